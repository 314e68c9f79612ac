# Ganzhi build. Everything lands in build/. See README.md for the targets.
VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
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
           -lpaho-mqtt3as -lmbedtls -lmbedx509 -lmbedcrypto -lpthread -lm
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Library code shared by the programs: everything in agent/, drivers/, proto/
# except the files that hold a main().
MAINS     := agent/main.c tools/ganzhi.c tools/sim.c
LIB_SRC   := $(filter-out $(MAINS),$(wildcard agent/*.c drivers/*.c proto/*.c))
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

.PHONY: all test unit demo bench install clean deps
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

install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 755 $(BUILD)/ganzhi $(BUILD)/ganzhi-sim $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/ganzhi-agent $(DESTDIR)$(PREFIX)/sbin/
	install -d $(DESTDIR)$(PREFIX)/share/ganzhi/examples/points
	install -m 644 conf/demo/agent.conf $(DESTDIR)$(PREFIX)/share/ganzhi/examples/
	install -m 644 conf/demo/points/*.csv $(DESTDIR)$(PREFIX)/share/ganzhi/examples/points/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.PRECIOUS: $(BUILD)/obj/%.o
