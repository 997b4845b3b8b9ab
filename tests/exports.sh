#!/usr/bin/env bash
# exports: the library boundary (docs/ARCHITECTURE.md, "The library
# boundary"). libtroupe.so exports exactly the functions troupe.h declares
# with TROUPE_EXPORT, under TROUPE_0, and troupe-actor's entry point under
# TROUPE_PRIVATE_<version>: no internal name. troupe-actor calls the
# library through that entry alone and maps no czmq; built-in modules name
# no libtroupe (they bind to the one in the process that loads them); the
# troupe command exports its own copy's troupe_* for the modules it loads,
# and none of its internals.
. "$(dirname "$0")/lib.sh"

LIB="$BUILD/runtime/libtroupe.so"
version=$(sed -n "s/^ *version : '\([0-9.]*\)'.*/\1/p" "$SRC/meson.build" | head -1)

# "name@@VERSION" for every defined dynamic symbol but the version nodes
defined() {
    nm -D --defined-only "$1" | awk '$2 != "A" { print $3 }' | sort
}

# troupe.h's exported functions, each as the library names it
sed -n 's/^TROUPE_EXPORT .*[ *]\(troupe_[a-z_0-9]*\)(.*/\1@@TROUPE_0/p' \
    "$SRC/runtime/troupe.h" | sort > "$SCRATCH/declared"
echo "troupe__actor_process_main@@TROUPE_PRIVATE_$version" >> "$SCRATCH/declared"
sort -o "$SCRATCH/declared" "$SCRATCH/declared"
defined "$LIB" > "$SCRATCH/exported"
if cmp -s "$SCRATCH/declared" "$SCRATCH/exported"; then
    ok "libtroupe.so exports troupe.h's $(grep -c @@TROUPE_0 "$SCRATCH/declared") functions and the private entry, nothing else"
else
    fail "libtroupe.so's exports differ from troupe.h's (< troupe.h, > libtroupe.so):"
    diff "$SCRATCH/declared" "$SCRATCH/exported" | head -20 >&2
fi
expect_eq "troupe.h declares functions at all" \
    "$([ "$(wc -l < "$SCRATCH/declared")" -gt 50 ] && echo yes)" yes
for name in rundir_make say place plan_pack supervisor_run tr_error; do
    expect_eq "libtroupe.so does not export $name" \
        "$(grep -c "^$name@" "$SCRATCH/exported")" 0
done

# troupe-actor: one call into the library, and no czmq
undef=$(nm -D --undefined-only "$BUILD/troupe-actor" | awk '/troupe/ { print $2 }')
expect_eq "troupe-actor calls libtroupe through its private entry alone" \
    "$undef" "troupe__actor_process_main@TROUPE_PRIVATE_$version"
needed=$(readelf -d "$BUILD/troupe-actor" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
expect_eq "troupe-actor needs libtroupe" "$(echo "$needed" | grep -c libtroupe.so.0)" 1
expect_eq "troupe-actor needs no czmq" "$(echo "$needed" | grep -c czmq)" 0

# built-in modules bind to the process's libtroupe; they bring none
for m in "$BUILD"/actors/*.so; do
    if readelf -d "$m" | grep -q 'NEEDED.*libtroupe'; then
        fail "$(basename "$m") names libtroupe (it should take troupe_* from its host)"
    fi
done
ok "built-in modules name no libtroupe"

# the troupe command: troupe_* for its modules, no internal name
defined "$BUILD/troupe" > "$SCRATCH/cmd"
expect_eq "the troupe command exports troupe_emit_int, for its modules" \
    "$(grep -c '^troupe_emit_int$' "$SCRATCH/cmd")" 1
expect_eq "the troupe command exports no internal name" \
    "$(grep -v '^troupe_[a-z]' "$SCRATCH/cmd" | grep -vc '@GLIBC_')" 0
finish
