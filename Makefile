# libpcpu: the top-level driver of CMake.
#   make        build (debug build: invariant checks on)
#   make demo   build and run the demonstration
#   make test   build and run the whole test suite (ctest, debug build)
#   make check  the same (the usual name)
#   make test-quick   the same without the slow cases
#   make bench  optimized build and benchmarks
BUILD   ?= build
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
GEN     := $(shell command -v ninja >/dev/null 2>&1 && echo -G Ninja)
DEBUG   := $(BUILD)/debug
RELEASE := $(BUILD)/release

# Install the Debian packages $(1) (root), else say which to install: a
# user without root gets that, not apt-get's lock-file error.
APT_NEED = if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); else \
	  echo "libpcpu: this step needs the Debian packages: $(1)" >&2; \
	  echo "  install them as root: apt-get install $(1)" >&2; exit 1; fi

.PHONY: all build release demo test check uninstall test-quick test-asan test-tsan test-valgrind fuzz bench clean deps format install vm-deps test-vm test-vm-all test-vm-ci bench-vm-index test-cross

all: build

deps:
	@command -v cmake >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 && \
	  command -v c++ >/dev/null 2>&1 || \
	  { echo "build tools missing (cmake, gcc, g++)"; \
	    $(call APT_NEED,cmake gcc g++ make); }

$(DEBUG)/CMakeCache.txt: | deps
	cmake -S . -B $(DEBUG) $(GEN) -DCMAKE_BUILD_TYPE=Debug

$(RELEASE)/CMakeCache.txt: | deps
	cmake -S . -B $(RELEASE) $(GEN) -DCMAKE_BUILD_TYPE=Release

build: $(DEBUG)/CMakeCache.txt
	cmake --build $(DEBUG) -j $(JOBS)

release: $(RELEASE)/CMakeCache.txt
	cmake --build $(RELEASE) -j $(JOBS)

# the build's own output goes to a log (printed if it fails): the demo is
# one screen
demo:
	@mkdir -p $(BUILD)
	@$(MAKE) --no-print-directory release > $(BUILD)/demo-build.log 2>&1 || \
	  { cat $(BUILD)/demo-build.log; exit 1; }
	@$(RELEASE)/examples/pcpu-demo

test: build
	cd $(DEBUG) && ctest --output-on-failure -j $(JOBS) -LE memcheck

check: test

# the suite without the cases labelled slow (a minute here)
test-quick: build
	cd $(DEBUG) && ctest --output-on-failure -j $(JOBS) -LE "memcheck|slow"

# the unit tests under valgrind's memcheck (the no-rseq fallback runs there)
test-valgrind: build
	@command -v valgrind >/dev/null 2>&1 || { $(call APT_NEED,valgrind); \
	  cmake -S . -B $(DEBUG); }
	cd $(DEBUG) && ctest --output-on-failure -j $(JOBS) -L memcheck

# the whole suite under ThreadSanitizer.  die_after_fork=0: a child forked
# from a process with a balance thread starts its own (fork_while_busy),
# which glibc supports and TSan cannot model.
test-tsan: | deps
	cmake -S . -B $(BUILD)/tsan $(GEN) -DCMAKE_BUILD_TYPE=Debug -DPCPU_SANITIZE=thread
	cmake --build $(BUILD)/tsan -j $(JOBS)
	cd $(BUILD)/tsan && TSAN_OPTIONS="die_after_fork=0 $$TSAN_OPTIONS" ctest --output-on-failure -j $(JOBS)

# the whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer
test-asan: | deps
	cmake -S . -B $(BUILD)/asan $(GEN) -DCMAKE_BUILD_TYPE=Debug -DPCPU_SANITIZE=address,undefined
	cmake --build $(BUILD)/asan -j $(JOBS)
	cd $(BUILD)/asan && ctest --output-on-failure -j $(JOBS)

# libFuzzer (clang + Debian's libclang-rt-14-dev) over the allocator with
# ASan+UBSan and the debug checks; FUZZ_SECONDS to run, corpus kept in
# tests/fuzz_corpus (new inputs go to $(BUILD)/fuzz/corpus)
# The library is built without comparison tracing and the fuzzer runs
# without entropic scheduling: the input is a stream of small op codes with
# no magic values to discover, and those two cost 60 % of the time here.
# Per-input leak checks are off: the allocator keeps its chunks from one
# input to the next by design, so they would run LSan on most inputs.
# A long run on every core: make fuzz FUZZ_SECONDS=3600 FUZZ_FLAGS="... -fork=2"
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?= -max_len=192 -entropic=0 -detect_leaks=0
CLANG ?= clang
fuzz:
	@command -v $(CLANG) >/dev/null 2>&1 && [ -n "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || \
	  { $(call APT_NEED,clang libclang-rt-14-dev); }
	mkdir -p $(BUILD)/fuzz/corpus
	$(CLANG) -g -O2 -DPCPU_DEBUG=1 -fsanitize=fuzzer,address,undefined -fno-sanitize-coverage=trace-cmp \
	  -Iinclude -Isrc tests/fuzz_alloc.c $(wildcard src/*.c) -lpthread -o $(BUILD)/fuzz/fuzz_alloc
	$(BUILD)/fuzz/fuzz_alloc -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) $(BUILD)/fuzz/corpus tests/fuzz_corpus

bench: release
	@command -v gnuplot >/dev/null 2>&1 || { echo "installing gnuplot-nox for the plots"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox || \
	  echo "gnuplot-nox could not be installed: no plots"; }
	$(RELEASE)/bench/pcpu-bench --out bench/results
	@if command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot -e "dir='bench/results'" bench/plot.gp && echo "plots: bench/results/update.png bench/results/growth.png"; fi

# A cross build for AArch64 whose tests run under qemu-user (no guest to
# boot: two minutes): CMAKE_CROSSCOMPILING_EMULATOR runs every test
# program; what needs the host (valgrind, the install test) is left out,
# what needs the kernel itself (seccomp, fork of a threaded process,
# mapping and RSS counts) is listed as Not Run (Disabled) and runs in the
# arm64 guest of make test-vm.  See CONTRIBUTING.md.
CROSS := $(BUILD)/cross-aarch64
test-cross:
	@need=""; for t in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64; do \
	  command -v $$t >/dev/null 2>&1 || need=1; done; \
	if [ -n "$$need" ]; then $(call APT_NEED,gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user); fi
	cmake -S . -B $(CROSS) $(GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/vm/aarch64-linux-gnu.cmake \
	  "-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-aarch64;-L;/usr/aarch64-linux-gnu"
	cmake --build $(CROSS) -j $(JOBS)
	cd $(CROSS) && ctest --output-on-failure -j $(JOBS) -LE memcheck

# Test guests (vm/): other kernels, arm64, many CPUs, NUMA, under qemu's TCG.
#   make test-vm [KERNEL=6.1|6.12|7.3] [ARCH=x86_64|arm64] [GLIBC=2.36|2.41]
#                [SMP=N] [MAXCPUS=M] [NUMA=0|N] [LABELS=quick|""]
# Root file systems and kernels come from Debian's archive and are cached
# under $(BUILD)/vm/; see vm/test-vm.sh.
VM_TOOLS := qemu-system-x86_64 qemu-system-aarch64 mmdebstrap mkfs.ext4 aarch64-linux-gnu-gcc
vm-deps:
	@for t in $(VM_TOOLS); do command -v $$t >/dev/null 2>&1 || need=1; done; \
	if [ -n "$$need" ]; then $(call APT_NEED,qemu-system-x86 qemu-system-arm \
	  qemu-utils mmdebstrap e2fsprogs gcc-aarch64-linux-gnu g++-aarch64-linux-gnu); fi

test-vm: vm-deps
	vm/test-vm.sh

# the guest subset CI runs: the quick cases on Linux 6.1 x86-64 and arm64
# the index mode's memory figure over 32 CPUs (README, bench/results/
# index-memory-32cpu.txt): a 6.12 guest with 32 vCPUs runs index_memory
bench-vm-index: vm-deps
	KERNEL=$(or $(KERNEL),6.12) GLIBC=2.41 SMP=32 MEM=6G TIMEOUT=1800 \
	GUEST_RUN='$$BUILD/bench/pcpu-bench --out /tmp/bench index_memory' \
	  vm/test-vm.sh | tee bench/results/index-memory-32cpu-$(or $(KERNEL),6.12).txt

test-vm-ci: vm-deps
	KERNEL=6.1 ARCH=x86_64 vm/test-vm.sh
	KERNEL=6.1 ARCH=arm64 vm/test-vm.sh

# the whole matrix (README, "Kernels and machines"); every guest runs, the
# exit status says whether all passed
test-vm-all: vm-deps
	vm/matrix.sh

format:
	clang-format -i src/*.c src/*.h include/*.h include/pcpu/*.h include/pcpu/*.hpp tests/*.c tests/*.cpp tests/*.h examples/*.c bench/*.c

clean:
	rm -rf $(BUILD)

PREFIX ?= /usr/local
install: release
	cmake --install $(RELEASE) --prefix $(PREFIX)

# remove what the last `make install` put in place (CMake's manifest of it)
uninstall:
	@[ -f $(RELEASE)/install_manifest.txt ] || \
	  { echo "nothing to uninstall: no $(RELEASE)/install_manifest.txt (make install writes it)"; exit 1; }
	xargs -d '\n' rm -fv < $(RELEASE)/install_manifest.txt
