# mxlimit - XDP connection limiter for mail servers.
#
#   make deps    install the Debian packages the build and tests need
#   make         build BPF objects, skeletons, mxlimit, mxlimit-proxy, mxlimit-policyd
#   make test    build and run every test; ends with "N passed, N failed"
#   make asan    the whole suite under AddressSanitizer + UBSan
#   make lint    cppcheck and clang-tidy over user/
#   make bench   micro-benchmarks and side-by-side ratios
#   make demo    a namespace lab: smtp-sink behind mxlimit, good and abusive clients
#   make demo-gateway  the same with mxlimit on a gateway in front of two servers
#   make install DESTDIR=... PREFIX=/usr/local
#   make deb     the Debian package into $(BUILD)/ (debhelper; lintian)

BUILD     ?= build
SAN       ?=
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PREFIX    ?= /usr/local
DESTDIR   ?=

ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/s390x/s390/')

WARN      := -Wall -Wextra -Werror
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Iuser/lib -I$(BUILD)
ifneq ($(SAN),)
CFLAGS    += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=address,undefined
endif
LIBS_BPF  := -lbpf -lelf -lz
LIBS_TLS  := -lssl -lcrypto
# hiredis (0.14 on Debian 12): only the programs that speak to [redis]
LIBS_REDIS := -lhiredis
LIBS_NL   := $(shell pkg-config --libs libnl-idiag-3.0 libnl-genl-3.0 2>/dev/null || echo -lnl-idiag-3 -lnl-genl-3 -lnl-3)
CFLAGS_NL := $(shell pkg-config --cflags libnl-3.0 2>/dev/null || echo -I/usr/include/libnl3)

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ibpf -Ivmlinux

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/*.h) $(wildcard include/*.h)

# Userspace by consumer (README "Layout"): user/lib is what every program
# uses, user/smtp the SMTP limit engine of the front ends (no sockets),
# user/mxlimit the controller, user/proxy the proxy.
LIB_SRCS    := $(wildcard user/lib/*.c)
LIB_OBJS    := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
SMTP_SRCS   := $(wildcard user/smtp/*.c)
SMTP_OBJS   := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(SMTP_SRCS))
MXLIMIT_SRCS := $(wildcard user/mxlimit/*.c)
MXLIMIT_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(MXLIMIT_SRCS))
PROXY_SRCS  := $(wildcard user/proxy/*.c)
PROXY_OBJS  := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(PROXY_SRCS))
POLICYD_SRCS := $(wildcard user/policyd/*.c)
POLICYD_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(POLICYD_SRCS))
USER_HDRS   := $(wildcard user/*/*.h) $(wildcard include/*.h)

# The controller's objects but main.c: the library the BPF tests (and the
# unit tests of the policy compiler) link against.
CTL_OBJS    := $(filter-out $(BUILD)/obj/mxlimit/main.o,$(MXLIMIT_OBJS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS  := $(wildcard tests/bpf/test_*.c)
BPFT_BINS  := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFT_SRCS))
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

BINS := $(BUILD)/mxlimit
ifneq ($(PROXY_SRCS),)
BINS += $(BUILD)/mxlimit-proxy
endif
ifneq ($(POLICYD_SRCS),)
BINS += $(BUILD)/mxlimit-policyd
endif

.PHONY: all deps test test-unit asan lint bench demo demo-gateway demo-cluster soak install clean tests-build
.DELETE_ON_ERROR:

all: $(BINS) $(BPF_OBJS)

deps:
	scripts/deps.sh

vmlinux/vmlinux.h:
	@mkdir -p vmlinux
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: user/%.c $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CFLAGS_NL) -c $< -o $@

# Only the SMTP side sees the SMTP engine's headers.
$(SMTP_OBJS) $(PROXY_OBJS) $(POLICYD_OBJS): CFLAGS += -Iuser/smtp

# Only the controller's objects include the skeletons.
$(MXLIMIT_OBJS): $(SKELS)

$(BUILD)/libmx.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmxsmtp.a: $(SMTP_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmxctl.a: $(CTL_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/mxlimit: $(MXLIMIT_OBJS) $(BUILD)/libmx.a
	$(CC) $(LDFLAGS) -o $@ $(MXLIMIT_OBJS) $(BUILD)/libmx.a $(LIBS_BPF) $(LIBS_NL) $(LIBS_REDIS)

$(BUILD)/mxlimit-proxy: $(PROXY_OBJS) $(BUILD)/libmxsmtp.a $(BUILD)/libmx.a
	$(CC) $(LDFLAGS) -o $@ $(PROXY_OBJS) $(BUILD)/libmxsmtp.a $(BUILD)/libmx.a $(LIBS_TLS) $(LIBS_REDIS)

$(BUILD)/mxlimit-policyd: $(POLICYD_OBJS) $(BUILD)/libmxsmtp.a $(BUILD)/libmx.a
	$(CC) $(LDFLAGS) -o $@ $(POLICYD_OBJS) $(BUILD)/libmxsmtp.a $(BUILD)/libmx.a $(LIBS_REDIS)

# Unit tests link what they test: the shared library, the SMTP engine and
# the proxy's protocol code, the controller's policy compiler (an archive
# member comes in only if a test uses it).
UNIT_INCS := -Itests/unit -Iuser/smtp -Iuser/mxlimit -Iuser/proxy -Iuser/policyd
UNIT_LIBS := $(BUILD)/libmxctl.a $(BUILD)/libmxproxy.a $(BUILD)/libmxpolicyd.a \
	$(BUILD)/libmxsmtp.a $(BUILD)/libmx.a

$(BUILD)/libmxproxy.a: $(filter-out $(BUILD)/obj/proxy/main.o,$(PROXY_OBJS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmxpolicyd.a: $(filter-out $(BUILD)/obj/policyd/main.o,$(POLICYD_OBJS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_LIBS) $(USER_HDRS) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(UNIT_INCS) -o $@ $< $(UNIT_LIBS) -lcmocka $(LIBS_BPF) $(LIBS_NL) $(LIBS_TLS) $(LIBS_REDIS) $(LDFLAGS)

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(BUILD)/libmxctl.a $(BUILD)/libmx.a $(SKELS) $(USER_HDRS) $(wildcard tests/bpf/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/bpf -Iuser/mxlimit -o $@ $< $(BUILD)/libmxctl.a $(BUILD)/libmx.a \
		-lcmocka $(LIBS_BPF) $(LIBS_NL) $(LIBS_REDIS) $(LDFLAGS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libmx.a $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libmx.a $(LDFLAGS) -lpthread

tests-build: all $(UNIT_BINS) $(BPFT_BINS) $(TOOL_BINS)

# The one test command (README, .ci/run).
test: tests-build
	BUILD=$(BUILD) scripts/run-tests.sh

test-unit: $(UNIT_BINS)
	BUILD=$(BUILD) scripts/run-tests.sh unit

# the whole suite under ASan + UBSan (`make test` runs a subset of it)
asan:
	$(MAKE) BUILD=build/asan SAN=1 tests-build
	BUILD=build/asan scripts/run-tests.sh unit bpf fuzz proxy integration

lint:
	BUILD=$(BUILD) scripts/run-tests.sh lint

bench: all $(TOOL_BINS) $(BUILD)/bench $(BUILD)/bench_blocklist
	BUILD=$(BUILD) scripts/bench.sh

# The bench's minimal reference limiter (not product code: tests/bench/ref.bpf.c).
$(BUILD)/bpf/ref.bpf.o: tests/bench/ref.bpf.c vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench: tests/bench/bench.c $(BUILD)/libmxctl.a $(BUILD)/libmx.a $(SKELS) $(BUILD)/ref.skel.h $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser/mxlimit -o $@ $< $(BUILD)/libmxctl.a $(BUILD)/libmx.a \
		$(LIBS_BPF) $(LIBS_NL) $(LDFLAGS) -lm

$(BUILD)/bench_blocklist: tests/bench/bench_blocklist.c tests/bpf/harness.h $(BUILD)/libmxctl.a $(BUILD)/libmx.a $(SKELS) $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/bpf -Iuser/mxlimit -o $@ $< $(BUILD)/libmxctl.a $(BUILD)/libmx.a \
		$(LIBS_BPF) $(LIBS_NL) $(LDFLAGS)

demo:
	scripts/demo.sh

demo-gateway:
	scripts/demo-gateway.sh

# three nodes and a Redis: a verdict crossing the fleet (docs/cluster.md)
demo-cluster:
	scripts/demo-cluster.sh

soak: tests-build
	BUILD=$(BUILD) MXLIMIT_SOAK=1 scripts/run-tests.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)/etc/mxlimit
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/sbin/
	for m in docs/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man8/; done; true
	for m in docs/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man5/; done; true
	[ -f $(DESTDIR)/etc/mxlimit/limit.ini ] || install -m 0644 config/limit.ini $(DESTDIR)/etc/mxlimit/limit.ini

clean:
	rm -rf build vmlinux/vmlinux.h

# `make deb`: the Debian package (debian/, mk/deb.mk); last, so `all` stays the default
include mk/deb.mk
