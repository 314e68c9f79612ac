# Ganzhi build. Everything lands in build/. See README.md for the targets.
VERSION    := 0.1.0

# Cross builds with Debian's cross compilers and multiarch -dev packages:
#   make CROSS=aarch64-linux-gnu          -> build-arm64/
#   make CROSS=arm-linux-gnueabihf        -> build-armhf/
#   make CROSS=aarch64-linux-gnu unit     the unit tests, under qemu-user
# CC, AR, STRIP and PKG_CONFIG follow CROSS unless given on the command line.
CROSS      ?=
ifneq ($(CROSS),)
CROSS_ARCH_aarch64-linux-gnu   := arm64
CROSS_ARCH_arm-linux-gnueabihf := armhf
CROSS_QEMU_aarch64-linux-gnu   := qemu-aarch64
CROSS_QEMU_arm-linux-gnueabihf := qemu-arm
CROSS_ARCH := $(or $(CROSS_ARCH_$(CROSS)),$(CROSS))
BUILD      ?= build-$(CROSS_ARCH)
ifneq ($(origin CC),command line)
CC         := $(CROSS)-gcc
endif
ifneq ($(origin AR),command line)
AR         := $(CROSS)-ar
endif
STRIP      ?= $(CROSS)-strip
# Debian's <triplet>-pkg-config when installed (pkgconf:ARCH), else the build
# machine's pkg-config pointed at the multiarch .pc files only.
ifeq ($(origin PKG_CONFIG),undefined)
PKG_CONFIG := $(if $(shell command -v $(CROSS)-pkg-config 2>/dev/null),$(CROSS)-pkg-config,\
              PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS)/pkgconfig:/usr/share/pkgconfig pkg-config)
endif
# How a built program is run on this machine (unit tests, the man page generator).
RUN        ?= $(or $(CROSS_QEMU_$(CROSS)),qemu-$(firstword $(subst -, ,$(CROSS)))) -L /usr/$(CROSS)
endif

PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
RUN        ?=
STRIP      ?= strip
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/ganzhi
# PREFIX=/usr is the system's own: configuration in /etc, units where systemd
# keeps the distribution's. Any other prefix keeps everything under it.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system),$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,$(PREFIX)/lib/sysusers.d)
STATEDIR   ?= /var/lib/ganzhi
CC         ?= cc
PKG_CONFIG ?= pkg-config
SANITIZE   ?=

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wformat=2 -Wvla
# gcc's guesses about snprintf truncation fire on every bounded format; we check
# lengths where truncation matters. clang has no such option.
ifneq ($(shell $(CC) --version 2>/dev/null | grep -c clang),1)
WARN    += -Wno-format-truncation
endif
CFLAGS  ?= -O2 -g
CPPFLAGS += -std=c11 -D_GNU_SOURCE -DGANZHI_VERSION=\"$(VERSION)\" -I. \
            $(shell $(PKG_CONFIG) --cflags libmodbus libcjson sqlite3)
LDLIBS  += $(shell $(PKG_CONFIG) --libs libmodbus libcjson sqlite3) \
           -lpaho-mqtt3as -lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -lpthread -lm
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Library code shared by the programs: everything in core/, agent/, drivers/, proto/
# except the files that hold a main().
MAINS     := agent/main.c tools/ganzhi.c tools/sim.c
LIB_SRC   := $(filter-out $(MAINS),$(wildcard core/*.c agent/*.c drivers/*.c proto/*.c))
CLI_SRC   := $(wildcard tools/cli_*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SIM_SRC   := $(wildcard tools/sim_*.c)
TEST_SRC  := $(wildcard tests/unit_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard tests/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/%.c=$(BUILD)/tests/%)
# Test peers written for the tests (e.g. a paced serial link).
TOOL_SRC  := $(wildcard tests/tool_*.c)
TOOL_BIN  := $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)

PROGRAMS := $(BUILD)/ganzhi-agent $(BUILD)/ganzhi $(BUILD)/ganzhi-sim

.PHONY: all test unit demo bench install install-strip clean deps man fuzz fuzz-build
all: $(PROGRAMS) $(TEST_BIN) $(BENCH_BIN) $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libganzhi.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/ganzhi-agent: $(BUILD)/obj/agent/main.o $(BUILD)/libganzhi.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/ganzhi: $(BUILD)/obj/tools/ganzhi.o $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libganzhi.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/ganzhi-sim: $(BUILD)/obj/tools/sim.o $(SIM_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libganzhi.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libganzhi.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# deps installs the Debian packages the build, the demo and the tests use.
deps:
	@sh tests/deps.sh

test: deps all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) bash tests/run.sh $(T)

demo: deps all
	@BUILD=$(BUILD) bash conf/demo/run.sh

bench: deps all
	@BUILD=$(BUILD) bash tests/bench.sh
	@BUILD=$(BUILD) bash tests/bench_rtu.sh
	@BUILD=$(BUILD) bash tests/bench_links.sh
	@BUILD=$(BUILD) bash tests/bench_resend.sh
	@BUILD=$(BUILD) bash tests/bench_wan.sh
	@BUILD=$(BUILD) bash tests/bench_store.sh

# soak: the long runs, not in `make test`. soak-kills: SOAK_KILLS (1,000) kill -9s of
# the agent at random moments under load, two uplinks, broker restarts, every seq
# checked at both collectors (~20 min). Another soak adds itself with one line,
# `soak: soak-OTHER`, and its own target; they run in turn (or together with -j).
SOAK_KILLS ?= 1000
.PHONY: soak soak-kills
soak: soak-powercut soak-kills
soak-kills: deps all
	@BUILD=$(BUILD) KILLS=$(SOAK_KILLS) bash tests/e2e_kill_loop.sh

# unit: the unit tests alone, each run by $(RUN) (qemu-user for a CROSS build);
# ends with each test's "N passed, N failed", fails if any failed or crashed.
unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	    out=$$(GANZHI_EMULATED=$(if $(RUN),1,) $(RUN) $$t 2>&1); rc=$$?; \
	    sum=$$(printf '%s\n' "$$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$$' | tail -1); \
	    printf '%s\n' "$$out" | grep -E '^FAIL' || true; \
	    echo "$$(basename $$t): $${sum:-no summary (exit $$rc)}"; \
	    case "$$sum" in *", 0 failed") [ $$rc = 0 ] || fail=1 ;; \
	    *) fail=1; printf '%s\n' "$$out" | tail -20 ;; esac; \
	done; exit $$fail

# fuzz: the fuzz targets (tests/fuzz/fuzz_*.c, clang's libFuzzer with ASan and
# UBSan), each run FUZZ_SECONDS (default 60) from its corpus in
# tests/fuzz/corpus/<target>/, FUZZ_JOBS at a time; fails on the first crash,
# leak or UB report, whose input libFuzzer writes to build-fuzz/crashes/.
# The library is built again into build-fuzz/ with clang and the sanitizers.
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

fuzz-build:
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) \
	    SANITIZE=fuzzer-no-link,address,undefined $(FUZZ_BUILD)/libganzhi.a
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(FUZZ_BUILD)/libganzhi.a
	$(FUZZ_CC) $(CPPFLAGS) $(filter-out -Wno-format-truncation,$(WARN)) -O1 -g $(FUZZ_FLAGS) $< $(FUZZ_BUILD)/libganzhi.a $(LDLIBS) -o $@

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) bash tests/fuzz/run.sh $(FUZZ_BIN)

# Man pages. ganzhi.conf(5) takes its KEYS section from the table the parser
# uses (`ganzhi check --keys --man`), so it cannot drift from the code.
MAN_PAGES := $(BUILD)/man/ganzhi.1 $(BUILD)/man/ganzhi-sim.1 $(BUILD)/man/ganzhi-agent.8 \
             $(BUILD)/man/ganzhi.conf.5
MAN_SED   := -e 's|@VERSION@|$(VERSION)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'
man: $(MAN_PAGES)
$(BUILD)/man/%: packaging/%
	@mkdir -p $(dir $@)
	sed $(MAN_SED) $< > $@
$(BUILD)/man/ganzhi.conf.5: packaging/ganzhi.conf.5.in $(BUILD)/ganzhi
	@mkdir -p $(dir $@)
	$(RUN) $(BUILD)/ganzhi check --keys --man > $@.keys
	sed $(MAN_SED) -e '/^@KEYS@$$/{r $@.keys' -e 'd;}' $< > $@
	@rm -f $@.keys
$(BUILD)/ganzhi-agent.service: packaging/ganzhi-agent.service.in
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|/var/lib/ganzhi|$(STATEDIR)|g' $< > $@

# install: programs, man pages, the systemd unit and sysusers.d entry, the
# example configuration (as the live one in $(SYSCONFDIR)/ganzhi only when none
# is there: an existing configuration is never overwritten) and the state
# directory. `make install-strip` strips the programs as they go in.
install: $(PROGRAMS) $(MAN_PAGES) $(BUILD)/ganzhi-agent.service
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples/points \
	    $(DESTDIR)$(SYSCONFDIR)/ganzhi/points
	install -d -m 750 $(DESTDIR)$(STATEDIR)
	install -m 755 $(INSTALL_STRIP) $(BUILD)/ganzhi $(BUILD)/ganzhi-sim $(DESTDIR)$(BINDIR)/
	install -m 755 $(INSTALL_STRIP) $(BUILD)/ganzhi-agent $(DESTDIR)$(SBINDIR)/
	install -m 644 $(BUILD)/man/ganzhi.1 $(BUILD)/man/ganzhi-sim.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(BUILD)/man/ganzhi.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(BUILD)/man/ganzhi-agent.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(BUILD)/ganzhi-agent.service $(DESTDIR)$(UNITDIR)/
	install -m 644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/ganzhi.conf
	install -m 644 conf/example/agent.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 conf/example/points/*.csv $(DESTDIR)$(DOCDIR)/examples/points/
	@for f in agent.conf $(patsubst conf/example/%,%,$(wildcard conf/example/points/*.csv)); do \
	    if [ -e $(DESTDIR)$(SYSCONFDIR)/ganzhi/$$f ]; then \
	        echo "install: keeping the existing $(DESTDIR)$(SYSCONFDIR)/ganzhi/$$f"; \
	    else \
	        echo "install -m 644 conf/example/$$f $(DESTDIR)$(SYSCONFDIR)/ganzhi/$$f"; \
	        install -m 644 conf/example/$$f $(DESTDIR)$(SYSCONFDIR)/ganzhi/$$f || exit 1; \
	    fi; \
	done

install-strip:
	$(MAKE) install INSTALL_STRIP="-s --strip-program=$(STRIP)"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.PRECIOUS: $(BUILD)/obj/%.o

# The power-cut test (tests/unit_powercut.c) links its SQLite VFS shim.
$(BUILD)/tests/unit_powercut: $(BUILD)/obj/tests/vfs_powercut.o
# soak-powercut: 10,000 simulated power cuts of the store (make unit runs 500).
.PHONY: soak-powercut
soak-powercut: $(BUILD)/tests/unit_powercut
	$(RUN) $(BUILD)/tests/unit_powercut -n $(or $(CUTS),10000)
# soak-outage: a month's outage compressed (tests/soak_outage.sh): DAYS (30) of 36
# points at 1 s written with the broker down, then the drain checked (3-5 min).
.PHONY: soak-outage
soak: soak-outage
soak-outage: deps all
	@BUILD=$(BUILD) DAYS=$(or $(DAYS),30) bash tests/soak_outage.sh
