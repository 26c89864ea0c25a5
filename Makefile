# chipbench: the only build entry point.
#
#   make run      install missing deps, build, run the quick suite, write results/
#   make test     install missing deps, build, run all tests (+ ASan/UBSan build)
#   make          build build/chipbench
#   make deps     install missing Debian packages (root + apt), else print how
#   make print-config, make clean
#
# Out-of-tree: make BUILD=build-debug CFLAGS='-O0 -g'. V=1 shows commands.
# Optional back-ends are auto-detected; force with USE_OPENBLAS=0 etc.
# ISA flags go on kernel files only (see KFLAGS below): one binary runs on any
# x86-64 CPU and picks kernels at run time.

BUILD ?= build
V ?= 0
Q = $(if $(filter 1,$(V)),,@)
CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-unused-parameter
BASEFLAGS = -std=gnu11 -pthread -Iinclude -I$(BUILD)/gen -MMD -MP
# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer, aborting on any report
ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
LDLIBS = -lm -pthread

-include config.mk

ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)
have_pc = $(shell pkg-config --exists $(1) 2>/dev/null && echo 1 || echo 0)
cc_accepts = $(shell printf 'int main(void){return 0;}' | $(CC) $(1) -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0)
# cc_links,HEADER,CALL,LIBS: a program including HEADER and calling CALL
# links with LIBS (for libraries without a pkg-config file; \043 is '#').
cc_links = $(shell printf '\043include <%s>\nint main(void){%s;return 0;}\n' '$(1)' '$(2)' | $(CC) -x c - -o /dev/null $(LDFLAGS) $(3) 2>/dev/null && echo 1 || echo 0)

USE_OPENBLAS ?= $(call have_pc,openblas)
USE_OPENCL ?= $(call have_pc,OpenCL)
USE_HWLOC ?= $(call have_pc,hwloc)
USE_LIBCPUID ?= $(if $(filter x86_64,$(ARCH)),$(call have_pc,libcpuid),0)
# Open MPI (the all-reduce op). Only for native builds: the host's ompi-c.pc
# describes the host's library, not a cross target's.
USE_MPI ?= $(if $(filter $(ARCH),$(shell uname -m)),$(call have_pc,ompi-c),0)
# Debian's libdnnl-dev ships no dnnl.pc: fall back to a compile-and-link probe.
USE_ONEDNN ?= auto
ifeq ($(USE_ONEDNN),auto)
ONEDNN_PC := $(call have_pc,dnnl)
USE_ONEDNN := $(if $(filter 1,$(ONEDNN_PC)),1,$(call cc_links,oneapi/dnnl/dnnl.h,dnnl_version(),-ldnnl))
endif

SRCS := $(wildcard harness/*.c) kernels/registry.c kernels/cpu_features.c kernels/absent.c \
        $(wildcard kernels/ref/*.c) $(wildcard kernels/common/*.c) \
        $(wildcard kernels/mpi/*.c) $(wildcard kernels/cuda/*.c)
DEFS :=
PKGS :=

ifeq ($(USE_OPENBLAS),1)
SRCS += $(wildcard kernels/blas/*.c)
DEFS += -DCB_HAVE_OPENBLAS=1
PKGS += openblas
endif
ifeq ($(USE_ONEDNN),1)
SRCS += $(wildcard kernels/onednn/*.c)
DEFS += -DCB_HAVE_ONEDNN=1
ifeq ($(ONEDNN_PC),1)
PKGS += dnnl
else
LDLIBS += -ldnnl
endif
endif
ifeq ($(USE_OPENCL),1)
SRCS += $(wildcard kernels/opencl/*.c)
DEFS += -DCB_HAVE_OPENCL=1 -DCL_TARGET_OPENCL_VERSION=300
PKGS += OpenCL
# Kernel sources are embedded: kernels/opencl/x.cl -> const char cb_cl_src_x[].
CL_SRCS := $(wildcard kernels/opencl/*.cl)
CL_OBJS := $(CL_SRCS:kernels/opencl/%.cl=$(BUILD)/gen/cl_%.o) $(BUILD)/gen/cl_tuning_builtin.o
endif
USE_CLBLAST ?= $(if $(filter 1,$(USE_OPENCL)),$(call have_pc,clblast),0)
ifeq ($(USE_CLBLAST),1)
SRCS += $(wildcard kernels/clblast/*.c)
DEFS += -DCB_HAVE_CLBLAST=1
PKGS += clblast
endif
ifeq ($(USE_HWLOC),1)
DEFS += -DCB_HAVE_HWLOC=1
PKGS += hwloc
endif
ifeq ($(USE_LIBCPUID),1)
DEFS += -DCB_HAVE_LIBCPUID=1
PKGS += libcpuid
endif
# kernels/mpi/ is always built: without MPI its kernels say why they cannot run.
ifeq ($(USE_MPI),1)
DEFS += -DCB_HAVE_MPI=1
PKGS += ompi-c
endif

ifeq ($(ARCH),x86_64)
AMX_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma -mamx-tile -mamx-bf16
HAVE_AVX2 := $(call cc_accepts,-mavx2 -mfma)
HAVE_AVX512 := $(call cc_accepts,-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma)
ifeq ($(HAVE_AVX2),1)
SRCS += $(wildcard kernels/x86/*_avx2.c)
DEFS += -DCB_HAVE_AVX2=1
endif
ifeq ($(HAVE_AVX512),1)
SRCS += $(wildcard kernels/x86/*_avx512.c)
DEFS += -DCB_HAVE_AVX512=1
endif
HAVE_AMX := $(call cc_accepts,$(AMX_FLAGS))
ifeq ($(HAVE_AMX),1)
SRCS += $(wildcard kernels/x86/*_amx.c)
DEFS += -DCB_HAVE_AMX=1
endif
endif
ifeq ($(ARCH),aarch64)
SRCS += $(wildcard kernels/arm/*_neon.c)
DEFS += -DCB_HAVE_NEON=1
endif

PKG_CFLAGS := $(if $(strip $(PKGS)),$(shell pkg-config --cflags $(PKGS)))
PKG_LIBS := $(if $(strip $(PKGS)),$(shell pkg-config --libs $(PKGS)))

ALL_CFLAGS = $(BASEFLAGS) $(WARN) $(CFLAGS) $(SANFLAGS) $(DEFS) $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# ISA flags on kernel objects only (pattern-specific variables).
$(BUILD)/kernels/x86/%_avx2.o: KFLAGS := -mavx2 -mfma
$(BUILD)/kernels/x86/%_avx512.o: KFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma
$(BUILD)/kernels/x86/%_amx.o: KFLAGS := $(AMX_FLAGS)

MAIN_SRC := harness/main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/build_info.o $(CL_OBJS)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
LIB := $(BUILD)/libchipbench.a
BIN := $(BUILD)/chipbench
TOOLS := $(if $(filter 1,$(USE_OPENBLAS)),$(BUILD)/tools/standalone_sgemm) \
         $(if $(filter x86_64,$(ARCH)),$(BUILD)/tools/roofs)

ifeq ($(filter deps print-config clean plots,$(MAKECMDGOALS)),)
ifneq ($(MAKELEVEL),0)
else
$(info chipbench build config ($(ARCH), $(CC)):)
$(info $(if $(filter 1,$(USE_OPENBLAS)),  [x] OpenBLAS $(shell pkg-config --modversion openblas 2>/dev/null),  [ ] OpenBLAS: not found (pkg-config openblas); baselines disabled))
$(info $(if $(filter 1,$(USE_ONEDNN)),  [x] oneDNN $(shell printf '\043include <oneapi/dnnl/dnnl_version.h>\nDNNL_VERSION_MAJOR.DNNL_VERSION_MINOR.DNNL_VERSION_PATCH\n' | $(CC) -E -P -x c - 2>/dev/null | tail -n 1 | tr -d ' '),  [ ] oneDNN: not found (pkg-config dnnl or <oneapi/dnnl/dnnl.h> + -ldnnl); oneDNN baselines disabled))
$(info $(if $(filter 1,$(USE_OPENCL)),  [x] OpenCL $(shell pkg-config --modversion OpenCL 2>/dev/null),  [ ] OpenCL: not found (pkg-config OpenCL); OpenCL backend disabled))
$(info $(if $(filter 1,$(USE_CLBLAST)),  [x] CLBlast $(shell pkg-config --modversion clblast 2>/dev/null),  [ ] CLBlast: not found (pkg-config clblast); CLBlast baseline disabled))
$(info $(if $(filter 1,$(USE_HWLOC)),  [x] hwloc $(shell pkg-config --modversion hwloc 2>/dev/null),  [ ] hwloc: not found; topology from sysfs))
$(info $(if $(filter 1,$(USE_LIBCPUID)),  [x] libcpuid $(shell pkg-config --modversion libcpuid 2>/dev/null),  [ ] libcpuid: not found; CPU id from cpuid.h))
$(info $(if $(filter 1,$(USE_MPI)),  [x] Open MPI $(shell pkg-config --modversion ompi-c 2>/dev/null),  [ ] Open MPI: not found (pkg-config ompi-c; libopenmpi-dev); allreduce rows skipped))
endif
endif

.PHONY: all run test deps print-config clean test-run test-san bench roofs plots
all: $(BIN) $(TOOLS)

$(BIN): $(BUILD)/harness/main.o $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(PKG_LIBS) $(LDLIBS) -o $@

$(LIB): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(LIB) tests/cb_test.h tests/check_kernel.h
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) $(LDLIBS) -o $@

# The fake NVML library test_power and test_cublas load through CHIPBENCH_NVML_LIB.
$(BUILD)/tests/libfake_nvml.so: tests/fake_nvml.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 $(WARN) $(CFLAGS) -fPIC -shared $< -o $@
$(BUILD)/tests/test_power: $(BUILD)/tests/libfake_nvml.so

# The fake CUDA runtime + cuBLAS test_cublas loads through CHIPBENCH_CUDART_LIB
# and CHIPBENCH_CUBLAS_LIB.
$(BUILD)/tests/libfake_cuda.so: tests/fake_cuda.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 $(WARN) $(CFLAGS) -fPIC -shared $< -o $@
$(BUILD)/tests/test_cublas: $(BUILD)/tests/libfake_cuda.so $(BUILD)/tests/libfake_nvml.so

$(BUILD)/tools/%: scripts/%.c $(LIB)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) $(LDLIBS) -o $@

$(BUILD)/gen/cl_%.c: kernels/opencl/%.cl scripts/embed_cl.sh
	@mkdir -p $(@D)
	@echo "  EMBED   $<"
	$(Q)sh scripts/embed_cl.sh $< cb_cl_src_$* > $@.tmp && mv $@.tmp $@

# Shipped tuning entries, embedded the same way (cl_tuning.h).
.SECONDARY: $(CL_OBJS:.o=.c)
$(BUILD)/gen/cl_tuning_builtin.c: results/tuning/opencl.csv scripts/embed_cl.sh
	@mkdir -p $(@D)
	@echo "  EMBED   $<"
	$(Q)sh scripts/embed_cl.sh $< cb_cl_src_tuning_builtin > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/flags.stamp
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c $(BUILD)/flags.stamp
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(KFLAGS) -c $< -o $@

# Objects depend on the flags they were compiled with: a library installed
# after a first build (make deps, say Open MPI) changes DEFS, and objects
# built without it must not be linked as if they had it.
$(BUILD)/flags.stamp: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(CC) $(ALL_CFLAGS)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Build identity embedded in every CSV row. Rewritten only when it changes so
# an unchanged tree does not relink.
BUILD_FLAGS_STR := $(strip $(CFLAGS) $(SANFLAGS) $(DEFS))
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
$(BUILD)/gen/build_info.c: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '// generated by the Makefile' \
	  'const char cb_build_flags[] = "$(BUILD_FLAGS_STR)";' \
	  'const char cb_git_commit[] = "$(GIT_COMMIT)";' \
	  'const char cb_compiler[] = "$(notdir $(CC)) " __VERSION__;' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
FORCE:

# Installs what is missing (root + apt) or prints the command and continues.
deps:
	$(Q)sh scripts/deps.sh

print-config:
	@echo "ARCH=$(ARCH) CC=$(CC) BUILD=$(BUILD)"
	@echo "USE_OPENBLAS=$(USE_OPENBLAS) USE_OPENCL=$(USE_OPENCL) USE_CLBLAST=$(USE_CLBLAST) USE_HWLOC=$(USE_HWLOC) USE_LIBCPUID=$(USE_LIBCPUID) USE_ONEDNN=$(USE_ONEDNN) USE_MPI=$(USE_MPI)"
	@echo "HAVE_AVX2=$(HAVE_AVX2) HAVE_AVX512=$(HAVE_AVX512) HAVE_AMX=$(HAVE_AMX)"
	@echo "DEFS=$(DEFS)"
	@echo "SRCS=$(SRCS)"

RESULT_CSV ?= results/$(shell hostname -s 2>/dev/null || hostname)-$(shell date -u +%Y%m%d).csv
# Detection runs in a sub-make so packages installed by `deps` are seen.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(BIN) run --suite quick --csv $(RESULT_CSV)

bench: run

# The measured roofs of this machine (FMA peak, STREAM triad) for plots.
ROOFS_CSV ?= results/$(shell hostname -s 2>/dev/null || hostname)-roofs.csv
roofs: all
	$(Q)$(BUILD)/tools/roofs $(shell nproc) --csv $(ROOFS_CSV)

# PNG and SVG figures from the CSVs in results/ (Debian's python3-matplotlib).
PLOT_PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
plots:
	$(Q)$(PLOT_PYTHON) scripts/plot.py results results/figures

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory test-run
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)-san SAN=1 OPT=-O1 test-run
	$(Q)sh scripts/cross_aarch64.sh $(BUILD)-aarch64
	$(Q)sh scripts/run_tests.sh --total $(BUILD) $(BUILD)-san $(BUILD)-aarch64

test-run: $(BIN) $(TEST_BINS)
	$(Q)sh scripts/run_tests.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-san $(BUILD)-fuzz

# Fuzzing (tests/fuzz, README "Fuzzing"): libFuzzer targets of the input
# parsers, built with clang into $(BUILD)-fuzz under ASan + UBSan from the
# portable sources (no optional back-ends: no parser needs one). `make fuzz`
# runs each target for FUZZ_SECONDS, or FUZZ_RUNS executions when set, from
# its seed corpus; `make fuzz-build` only builds; tests/test_fuzz_smoke.sh is
# the short pass in `make test`. Findings land in $(BUILD)-fuzz/findings/.
FUZZ_CC ?= clang
FUZZ_BUILD = $(BUILD)-fuzz
FUZZ_TARGETS = csv results model prices tuning
FUZZ_SECONDS ?= 300
FUZZ_RUNS ?=
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu11 -pthread -Iinclude -MMD -MP $(WARN) -g -O1 $(FUZZ_SAN)
# The library's sources minus the optional back-ends (compiled without their
# CB_HAVE_* macros), plus the tuning-file reader, which needs no OpenCL.
FUZZ_SRCS := $(sort $(filter-out $(MAIN_SRC) kernels/blas/% kernels/onednn/% \
                 kernels/opencl/% kernels/clblast/% kernels/x86/% kernels/arm/%,$(SRCS)) \
             kernels/opencl/cl_tuning.c kernels/opencl/cl_params.c)
FUZZ_OBJS := $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# A trivial fuzz target must link: clang and its libFuzzer runtime
# (Debian: clang, libclang-rt-dev) are both there.
fuzz_probe = $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ return d && n; }\n' | $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0)

.PHONY: fuzz fuzz-build fuzz-check valgrind
fuzz-check:
	@if [ "$(fuzz_probe)" != 1 ]; then \
	    echo "fuzz: $(FUZZ_CC) with -fsanitize=fuzzer not found (Debian: apt-get install clang libclang-rt-dev)" >&2; \
	    exit 1; fi

fuzz-build: fuzz-check
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)mkdir -p $(FUZZ_BUILD)/findings
	$(Q)for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz_$$t: $(if $(FUZZ_RUNS),$(FUZZ_RUNS) runs,$(FUZZ_SECONDS) s)"; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t || exit 1; \
	    $(FUZZ_BUILD)/fuzz_$$t $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS)) \
	        -max_len=16384 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/findings/$$t- \
	        $$( [ -f tests/fuzz/$$t.dict ] && echo -dict=tests/fuzz/$$t.dict ) \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Valgrind memcheck of a run of every CPU kernel on small shapes that cover
# each op (GEMM nn/nt/tn/tt with leading dimensions, alpha and beta;
# attention forward and backward, causal, grouped-query; stream) at 1 and 2
# threads (the quick suite's shapes, up to 1024^3 with a float64 reference
# check, take hours under Valgrind; these reach the same code paths, edge
# tiles included). Left out, with the reason: OpenCL (PoCL compiles every
# kernel with LLVM at run time, minutes under Valgrind, and keeps its own
# worker threads; the ICD loader is pointed at an empty vendor directory so
# no platform loads, as the attention backward's set-up would otherwise load
# PoCL to rank forward kernels) and MPI (one rank). oneDNN's JIT kernels run
# clean and stay in. Under Valgrind the CPU has no AVX-512 (Valgrind does not
# emulate it): those kernels report skipped, and the ASan build of `make
# test` covers them.
VALGRIND_SHAPES = 37x29x41 64x48x32:nt 33x17x19:tn,beta=1 20x24x28:tt,lda=40,alpha=0.5 \
                  b=1,h=2,kvh=1,s=67,d=64,causal=1 b=1,h=2,s=40,d=32,causal=0 stream:n=10007
valgrind: all
	$(Q)mkdir -p $(BUILD)/valgrind-no-icd
	$(Q)OCL_ICD_VENDORS=$(CURDIR)/$(BUILD)/valgrind-no-icd valgrind --leak-check=full \
	    --error-exitcode=1 --suppressions=tests/valgrind.supp \
	    $(BIN) run --max-time 0.05 --min-time 0.01 --warmup 0 --power off --threads 1,2 \
	    --kernel '*_ref,*_avx2*,*_avx512*,*_openblas,*_onednn' \
	    $(foreach s,$(VALGRIND_SHAPES),--shape $(s)) --csv $(BUILD)/valgrind.csv

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libfuzzparse.a
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libfuzzparse.a -lm -o $@

$(FUZZ_BUILD)/libfuzzparse.a: $(FUZZ_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

-include $(LIB_OBJS:.o=.d) $(BUILD)/harness/main.d $(FUZZ_OBJS:.o=.d)
