# Convenience targets; the scripts in tools/ are the source of truth.
.PHONY: setup demo test firmware bench clean
setup: ; tools/setup
demo: ; tools/demo
test: ; tools/test
firmware: ; $(MAKE) -C firmware
bench: setup ; .venv/bin/python tools/bench
clean: ; rm -rf firmware/build .venv
