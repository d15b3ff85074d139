# azbridge: one build for everything. `make help` lists the targets.

PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= /lib/systemd/system
DATADIR     ?= $(PREFIX)/share
DESTDIR     ?=

VERSION     := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
PKGS        := openssl libwebsockets libsystemd libconfig jansson libcurl
# Only azbridgectl (import) and its tests parse YAML; the daemons do not link it.
YAML_PKG    := yaml-0.1

ifeq ($(SANITIZE),1)
BUILD       ?= build/san
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD       ?= build
SAN_FLAGS   :=
endif

CC          ?= cc
OPT         ?= -O2
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is opened at run time (daemon/entra_http.c), not linked.
PKG_LIBS    := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
YAML_CFLAGS := $(shell pkg-config --cflags $(YAML_PKG) 2>/dev/null)
YAML_LIBS   := $(shell pkg-config --libs $(YAML_PKG) 2>/dev/null)
CFLAGS      ?= $(OPT) -g
AZB_CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -D_GNU_SOURCE -DAZB_VERSION='"$(VERSION)"' \
               -Icommon $(PKG_CFLAGS) $(YAML_CFLAGS) $(SAN_FLAGS) -MMD -MP
AZB_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS)

COMMON_SRC  := $(sort $(wildcard common/*.c))
DAEMON_SRC  := $(filter-out daemon/main.c,$(sort $(wildcard daemon/*.c)))
RELAY_SRC   := $(filter-out relay/main.c,$(sort $(wildcard relay/*.c)))
CTL_SRC     := $(sort $(wildcard ctl/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))

obj          = $(patsubst %.c,$(BUILD)/%.o,$(1))
COMMON_LIB  := $(BUILD)/libazbcommon.a
DAEMON_LIB  := $(BUILD)/libazbdaemon.a
RELAY_LIB   := $(BUILD)/libazbrelay.a
BINS        := $(BUILD)/azbridged $(BUILD)/azbridgectl $(BUILD)/azbridge-relayd
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all check check-built unit-check deps run install uninstall clean help bench fuzz fuzz-run
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(AZB_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	@rm -f $@; ar rcs $@ $^
$(DAEMON_LIB): $(call obj,$(DAEMON_SRC))
	@rm -f $@; ar rcs $@ $^
$(RELAY_LIB): $(call obj,$(RELAY_SRC))
	@rm -f $@; ar rcs $@ $^

$(BUILD)/azbridged: $(BUILD)/daemon/main.o $(DAEMON_LIB) $(COMMON_LIB)
	$(CC) $(AZB_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/azbridge-relayd: $(BUILD)/relay/main.o $(RELAY_LIB) $(COMMON_LIB)
	$(CC) $(AZB_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/azbridgectl: $(call obj,$(CTL_SRC)) $(COMMON_LIB)
	$(CC) $(AZB_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(YAML_LIBS)

# Unit tests link the module libraries, so a test reaches everything but main().
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(DAEMON_LIB) $(RELAY_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(AZB_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(YAML_LIBS) -lcmocka

# The one test command: dependencies, build, every suite, then one
# "N passed, N failed" line. A sub-make so pkg-config sees installed packages.
check:
	@tests/deps.sh
	@$(MAKE) --no-print-directory check-built

check-built: $(BINS) $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh

unit-check: $(UNIT_BINS)
	@BUILD=$(BUILD) SUITES=unit tests/run.sh

deps:
	@tests/deps.sh

run:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/demo.sh

# QUICK=1: a shorter run; RECORD=1: append it to bench/RESULTS.md.
bench: $(BINS)
	@BUILD=$(BUILD) QUICK=$(QUICK) bench/run.sh $(if $(filter 1,$(RECORD)),--record)

# libFuzzer targets (clang), one per parser of outside input.
# tests/fuzz/run.sh runs
# them for a bounded time in make check; FUZZ_TIME=600 make fuzz-run for longer.
FUZZ_CC     ?= clang
FUZZ_FLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -std=gnu11 -D_GNU_SOURCE -Icommon -Irelay $(PKG_CFLAGS)
# Every tests/fuzz/fuzz_NAME.c is a target; its rule below names what it links.
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
fuzz: $(FUZZ_BINS)
fuzz-run: $(FUZZ_BINS)
	@BUILD=$(BUILD) tests/fuzz/run.sh

$(BUILD)/fuzz/fuzz_hc_proto: tests/fuzz/fuzz_hc_proto.c common/hc_proto.c common/url.c \
		common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ -ljansson
$(BUILD)/fuzz/fuzz_wire: tests/fuzz/fuzz_wire.c common/http1.c common/ws.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ -lcrypto
$(BUILD)/fuzz/fuzz_jwt: tests/fuzz/fuzz_jwt.c common/jwt.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ -ljansson -lcrypto
$(BUILD)/fuzz/fuzz_hosts: tests/fuzz/fuzz_hosts.c common/hostsfile.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_route: tests/fuzz/fuzz_route.c relay/rhead.c relay/registry.c common/http1.c \
		common/ws.c common/url.c common/util.c common/jwt.c common/sas.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ -ljansson -lcrypto
$(BUILD)/fuzz/fuzz_ctlreq: tests/fuzz/fuzz_ctlreq.c daemon/ctlreq.c common/ctl_proto.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Idaemon $^ -o $@ -ljansson
$(BUILD)/fuzz/fuzz_preamble: tests/fuzz/fuzz_preamble.c daemon/preamble.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_udpframe: tests/fuzz/fuzz_udpframe.c daemon/udpframe.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_binding: tests/fuzz/fuzz_binding.c common/binding.c common/cred.c \
		common/connstr.c common/url.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_http_map: tests/fuzz/fuzz_http_map.c daemon/http_map.c common/http1.c \
		common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_import: tests/fuzz/fuzz_import.c ctl/import_yaml.c ctl/import_map.c \
		ctl/import_emit.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(YAML_LIBS) -lconfig
$(BUILD)/fuzz/fuzz_connstr: tests/fuzz/fuzz_connstr.c common/connstr.c common/log.c common/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(PKG_LIBS)

install: $(BINS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/doc/azbridge/examples \
		$(DESTDIR)$(DATADIR)/bash-completion/completions
	install -m 0755 $(BUILD)/azbridged $(BUILD)/azbridge-relayd $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/azbridgectl $(DESTDIR)$(BINDIR)/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	for u in systemd/*.service; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g' $$u >$(DESTDIR)$(UNITDIR)/$$(basename $$u); \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	install -m 0644 etc/*.conf $(DESTDIR)$(DATADIR)/doc/azbridge/examples/
	for d in etc/systemd/*.service.d; do \
		install -d $(DESTDIR)$(DATADIR)/doc/azbridge/examples/systemd/$$(basename $$d); \
		install -m 0644 $$d/*.conf $(DESTDIR)$(DATADIR)/doc/azbridge/examples/systemd/$$(basename $$d)/; done
	install -m 0644 etc/completion/azbridgectl $(DESTDIR)$(DATADIR)/bash-completion/completions/
	install -d $(DESTDIR)$(SYSCONFDIR)/profile.d
	install -m 0644 etc/profile.d/azbridge.sh $(DESTDIR)$(SYSCONFDIR)/profile.d/
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/azbridge.conf ]; then \
		install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/azbridge.conf.d; \
		install -m 0600 etc/azbridge.conf $(DESTDIR)$(SYSCONFDIR)/azbridge.conf; fi
	@# The unit joins the control socket's group (SupplementaryGroups=azbridge):
	@# it must exist on the machine the unit runs on.
	@if [ -z "$(DESTDIR)" ] && ! getent group azbridge >/dev/null; then \
		groupadd --system azbridge && echo "created group azbridge"; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/azbridged $(DESTDIR)$(SBINDIR)/azbridge-relayd \
		$(DESTDIR)$(BINDIR)/azbridgectl $(DESTDIR)$(UNITDIR)/azbridged.service \
		$(DESTDIR)$(UNITDIR)/azbridge-relayd.service
	cd man && for f in *.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$$f; done
	cd man && for f in *.8; do rm -f $(DESTDIR)$(MANDIR)/man8/$$f; done
	rm -rf $(DESTDIR)$(DATADIR)/doc/azbridge
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/azbridgectl
	rm -f $(DESTDIR)$(SYSCONFDIR)/profile.d/azbridge.sh

clean:
	rm -rf build

help:
	@echo "make            build azbridged, azbridgectl, azbridge-relayd into $(BUILD)/"
	@echo "make check      build and run every test suite (SANITIZE=1: ASan+UBSan)"
	@echo "make run        start the local demo (relay + two bridges)"
	@echo "make deps       install the Debian packages the build and tests need"
	@echo "make install    install (PREFIX=$(PREFIX) DESTDIR=...)"
	@echo "make bench      run the benchmarks in bench/ (QUICK=1 shorter, RECORD=1 into RESULTS.md)"
	@echo "make fuzz-run   build the libFuzzer targets and run them (FUZZ_TIME seconds each)"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
