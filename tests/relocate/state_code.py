"""Python run on the board to build every kind of object the relocation issue lists."""

STATE = r"""
import gc, sys, math, array, collections, struct
i = 12345
neg = -7
big = 2**200 + 7
bigneg = -(2**70)
f = 3.25
s = 'hello ' + 'world'
longs = 'x' * 300
b = b'\x00\xffbytes' + bytes(3)
ba = bytearray(b'\x40\x04\x01\x20' * 4)
arr = array.array('I', [0x20010440, 0x20000470, 0x2001fff0, 7])
arrh = array.array('h', [1, -2, 3])
mv = memoryview(ba)
l = [1, 2, [3, 4], s]
t = (1, 'two', 3.0, big)
d = {'a': 1, 'b': [2], 3: 'three'}
st = {1, 2, 3, 'x'}
fs = frozenset([4, 5, (6, 7)])
nested = {'k': [(1, 2), {'x': {3}}]}
od = collections.OrderedDict([('z', 1), ('y', 2)])
P = collections.namedtuple('P', 'x y')
p = P(1, 2)
name_made_at_runtime_xyzzy = 42
k = 'dyn' + 'amic'
g_ = {k: 1}
def f1(a, b=10, *args, c=5, **kw):
    return a + b + c + len(args) + len(kw)
def make(n):
    def add(x):
        return x + n
    return add
add5 = make(5)
sq = lambda x: x * x
def gen():
    for i in range(10):
        yield i * i
g = gen()
first = [next(g), next(g), next(g)]
def gen2(seq):
    total = 0
    for x in seq:
        try:
            total += x
            yield total
        finally:
            pass
g2 = gen2([1, 2, 3, 4])
next(g2)
def gen3():
    yield from gen()
g3 = gen3()
next(g3)
class A:
    cls_attr = [1, 2]
    def __init__(self, v):
        self.v = v
    def get(self):
        return self.v
    @property
    def pv(self):
        return self.v * 10
    @staticmethod
    def sm():
        return 's'
    @classmethod
    def cm(cls):
        return cls.__name__
class B(A):
    def get(self):
        return super().get() * 2
class L(list):
    pass
a = A(3)
bb = B(4)
lst = L([1, 2])
m = bb.get
try:
    raise ValueError('kept', 5)
except ValueError as e:
    err = e
def boom():
    return 1 / 0
try:
    boom()
except ZeroDivisionError as e:
    err2 = e
keyed = {a: 'a', bb: 'b', f1: 'f', A: 'A'}
setk = {a, bb, f1, sq}
r = range(1, 100, 3)
it_list = iter([10, 20, 30]); next(it_list)
it_range = iter(range(5)); next(it_range)
it_str = iter('abc'); next(it_str)
it_tuple = iter((1, 2, 3))
it_dict = iter(d)
it_set = iter(st)
z = zip([1, 2], 'ab')
mp = map(lambda x: x + 1, [1, 2])
fl = filter(None, [0, 1, 2])
en = enumerate(['a', 'b'])
rv = reversed([1, 2, 3])
sl = [0,1,2,3][1:3]  # slices are transient in 1.9.2 (no slice())
dk = d.keys()
dv = d.values()
objs = [A(i) for i in range(23)]
keyed_big = {}
for o in objs:
    keyed_big[o] = o.v
set_big = set(objs)
keyed_funcs = {f1: 1, sq: 2, make: 4, gen: 5, A: 6, B: 7, len: 8}  # closures are unhashable in 1.9.2
tkeys = {(a, 1): 'ta', (f1, 'x'): 'tf', (1, 2): 'plain'}
fkeys = {frozenset([a, 1]): 'fa'}
mixed = {1: 'i', 'str': 2, big: 'b', None: 'n', True: 't', b'by': 'y', (1, 2): 'tu', -5: 'neg', k: 'dyn'}
floats = {2.5: 'f', 1: 'i', 0.1: 'g'}  # 1.9.2 cannot compare a float key with bytes/str keys
for o in objs[::3]:
    del keyed_big[o]
sys.modules
gc.collect()
"""

# Evaluated on the device before and after a move: must give the same text.
CHECK = "(i, neg, big, bigneg, f, s, len(longs), b, ba, list(arr), list(arrh), bytes(mv), l, t, sorted(d.items(), key=repr), sorted(st, key=repr), sorted(fs, key=repr), nested, list(od.items()), p, name_made_at_runtime_xyzzy, g_['dynamic'], f1(1), f1(1, 2, 3, c=1, z=2), add5(1), sq(7), a.get(), bb.get(), m(), a.pv, A.sm(), B.cm(), isinstance(lst, list), lst + [3], err.args, type(err2).__name__, keyed[a], keyed[bb], keyed[f1], keyed[A], a in setk, f1 in setk, sq in setk, [keyed_big[o] for o in objs if o in keyed_big], all(o in set_big for o in objs), [keyed_funcs[x] for x in (f1, sq, make, gen, A, B, len)], tkeys[(a, 1)], tkeys[(f1, 'x')], tkeys[(1, 2)], fkeys[frozenset([1, a])], sorted(mixed.items(), key=repr), sorted(floats.items(), key=repr), list(r), next(it_list), next(it_range), next(it_str), list(it_tuple), sorted(it_dict, key=repr), len(list(it_set)), list(z), list(mp), list(fl), list(en), list(rv), sl, sorted(dk, key=repr), sorted(dv, key=repr), next(g), next(g2), next(g3))"



def chunks(code: str, limit: int = 200) -> list[str]:
    """Split at top-level statements into pieces of about ``limit`` bytes: small raw-REPL
    transfers (the emulated console's receive ring is 256 bytes)."""
    out, cur = [], ""
    for line in code.strip("\n").split("\n"):
        if line and not line[0].isspace() and len(cur) + len(line) > limit and cur:
            out.append(cur)
            cur = ""
        cur += line + "\n"
    if cur:
        out.append(cur)
    return out


# Generators suspended in every construct whose stack layout the walker must know exactly.
GENERATORS = r"""
import gc
class Ctx:
    def __init__(self, *args):
        self.log = []
    def __enter__(self):
        self.log.append('in')
        return self
    def __exit__(self, *a):
        self.log.append('out')
class Oops(Exception):
    pass
def g_range():
    for i in range(0x20001000, 0x20001010, 4):
        yield i
def g_list(seq):
    for x in seq:
        for y in 'ab':
            yield (x, y)
def g_with(c):
    with c:
        yield 1
        yield 2
def g_except():
    try:
        raise Oops('x', [1, 2])
    except Oops as e:
        yield e.args
        yield 'after'
def g_expr():
    r = [10, (yield 'first'), 30, {'k': (yield 'second')}]
    yield r
def g_finally_return():
    try:
        return  # 1.9.2 raises StopIteration(5) out of list() for 'return 5' here
    finally:
        yield 'in finally'
def g_break_finally():
    for i in [1, 2, 3]:
        try:
            break
        finally:
            yield ('break', i)
    yield 'done'
def g_cells(n):
    acc = []
    def add(v):
        acc.append(v + n)
    for i in range(3):
        add(i)
        yield len(acc)
    yield acc
def g_dict(d):
    for k in d:
        yield k
def g_array():
    import array
    a = array.array('I', [0x20000470, 0x20010440])
    for v in a:
        yield v
def g_nested():
    yield from g_list([7])
    yield 'end'
def g_notstarted(a, b=2):
    yield a + b
def g_finished():
    yield 1
c = Ctx()
gens = [g_range(), g_list([1, 2]), g_with(c), g_except(), g_expr(), g_finally_return(),
        g_break_finally(), g_cells(100), g_dict({'p': 1}), g_array(), g_nested()]
firsts = [next(x) for x in gens]
firsts.append(gens[4].send('S1'))
gn = g_notstarted(40)
gf = g_finished(); next(gf)
for _ in gf:
    pass
class Multi(Ctx, Oops):
    pass
mi = Multi('m')
tb_holder = None
try:
    [][1]
except IndexError as e:
    tb_holder = e
mv2 = memoryview(b'0123456789')[2:5]
gc.collect()
"""

CHECK_GEN = ("(firsts, [list(x) for x in gens], c.log, list(gn), list(gf), mi.args, isinstance(mi, Oops), "
             "type(tb_holder).__name__, bytes(mv2))")
