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
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
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
# Debian's libdnnl-dev ships no dnnl.pc: fall back to a compile-and-link probe.
USE_ONEDNN ?= auto
ifeq ($(USE_ONEDNN),auto)
ONEDNN_PC := $(call have_pc,dnnl)
USE_ONEDNN := $(if $(filter 1,$(ONEDNN_PC)),1,$(call cc_links,oneapi/dnnl/dnnl.h,dnnl_version(),-ldnnl))
endif

SRCS := $(wildcard harness/*.c) kernels/registry.c kernels/cpu_features.c \
        $(wildcard kernels/ref/*.c) $(wildcard kernels/common/*.c)
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

ifeq ($(ARCH),x86_64)
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

# The fake NVML library test_power loads through CHIPBENCH_NVML_LIB.
$(BUILD)/tests/libfake_nvml.so: tests/fake_nvml.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 $(WARN) $(CFLAGS) -fPIC -shared $< -o $@
$(BUILD)/tests/test_power: $(BUILD)/tests/libfake_nvml.so

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

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(KFLAGS) -c $< -o $@

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
	@echo "USE_OPENBLAS=$(USE_OPENBLAS) USE_OPENCL=$(USE_OPENCL) USE_CLBLAST=$(USE_CLBLAST) USE_HWLOC=$(USE_HWLOC) USE_LIBCPUID=$(USE_LIBCPUID) USE_ONEDNN=$(USE_ONEDNN)"
	@echo "HAVE_AVX2=$(HAVE_AVX2) HAVE_AVX512=$(HAVE_AVX512)"
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
	rm -rf $(BUILD) $(BUILD)-san

-include $(LIB_OBJS:.o=.d) $(BUILD)/harness/main.d
