# SPDX-License-Identifier: MIT
# `make fuzz`: libFuzzer targets (clang) for escaping and route folding, the
# renderer, and the record -> fold -> render round trip, each run for
# FUZZ_SECONDS from the committed seed corpus in tests/fuzz/corpus/.
# `make test` runs them too (tests/run).

FUZZ_SECONDS ?= 10
FUZZ_TARGETS  = fuzz_escape fuzz_render fuzz_roundtrip
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -Iinclude -I. -Wall -Wextra -Werror -g -O1 $(FUZZ_SAN)
FUZZ_SOURCES  = $(LIB)

.PHONY: fuzz fuzz-build
fuzz-build: $(addprefix build/fuzz/,$(FUZZ_TARGETS))
test: fuzz-build

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS)

# Not intermediate: keep the objects (and keep make quiet after the tests).
.SECONDARY: $(call objs,fuzz,$(FUZZ_SOURCES) $(addprefix tests/fuzz/,$(addsuffix .c,$(FUZZ_TARGETS))))

build/fuzz/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o $(call objs,fuzz,$(FUZZ_SOURCES))
	clang $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
