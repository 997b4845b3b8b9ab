#!/usr/bin/env bash
# install_prefix: troupe installed from this build tree into a prefix the
# loader does not search (meson install --destdir into a temporary folder),
# then moved elsewhere, runs with no LD_LIBRARY_PATH and no troupe variable:
# the programs find libtroupe by their RUNPATH ($ORIGIN), and libtroupe
# finds the prefix's own troupe-actor and built-in modules. The moved
# prefix's troupe.pc builds an out-of-tree module that runs there too.
# (Before, the installed troupe had no RUNPATH and did not start.)
. "$(dirname "$0")/lib.sh"

DEST="$SCRATCH/dest"
if ! meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet > "$SCRATCH/install.log" 2>&1; then
    fail "meson install failed:"; cat "$SCRATCH/install.log" >&2; finish
fi
options=$(meson introspect "$BUILD" --buildoptions)
option() {
    /usr/bin/python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]][0])' "$1" <<< "$options"
}
prefix=$(option prefix)
libdir=$(option libdir)
# a prefix moved after its install: nothing may point at where it was built for
PREFIX="$SCRATCH/moved"
mv "$DEST$prefix" "$PREFIX"
rm -rf "$DEST"
ok "installed and moved to $PREFIX"

# what the environment of a user who never heard of the build tree has
installed() {
    env -u LD_LIBRARY_PATH -u TROUPE_MODULE_PATH -u TROUPE_ACTOR -u TROUPE_NO_ZYGOTE "$@"
}

for exe in bin/troupe libexec/troupe/troupe-actor; do
    runpath=$(readelf -d "$PREFIX/$exe" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    case "$runpath" in
    '$ORIGIN/'*) ok "$exe: RUNPATH relative to itself ($runpath)" ;;
    *) fail "$exe: RUNPATH '$runpath', want one relative to \$ORIGIN" ;;
    esac
done

(cd / && installed "$PREFIX/bin/troupe" run "$SRC/examples/squares.zpl") \
    > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "squares from the moved prefix: exit code" "$?" 0
squares 1000000 > "$SCRATCH/want"
expect_file_eq "squares from the moved prefix: output" "$SCRATCH/out" "$SCRATCH/want"
[ -s "$SCRATCH/err" ] && { fail "squares: unexpected stderr:"; head -5 "$SCRATCH/err" >&2; }

# the actors are the prefix's own troupe-actor: a run that waits on a fifo
# until its processes are looked at
mkfifo "$SCRATCH/lines"
cat > "$SCRATCH/wait.zpl" <<ZPL
pipeline = installwait
actor = text
    module = lines
    out = lines
    args
        file = $SCRATCH/lines
actor = show
    module = print
    in = lines
ZPL
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
installed "$PREFIX/bin/troupe" run -v -v "$SCRATCH/wait.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
run=$!
exec 3<> "$SCRATCH/lines" # read-write: never blocks, even if no run ever reads
wait_started "$SCRATCH/err"
exes=$(for pid in $(actor_pids installwait); do readlink "/proc/$pid/exe"; done | sort -u)
expect_eq "the actors run the prefix's troupe-actor" "$exes" "$PREFIX/libexec/troupe/troupe-actor"
echo "one line" >&3
exec 3>&-
wait_at_most $run 60
expect_eq "a run waiting on a fifo: exit code" "$?" 0
expect_eq "a run waiting on a fifo: output" "$(cat "$SCRATCH/out")" "one line"

# a module of one's own, built with the moved prefix's pkg-config alone
if ! grep -q '^prefix=${pcfiledir}' "$PREFIX/$libdir/pkgconfig/troupe.pc"; then
    fail "troupe.pc names an absolute prefix: this build dir was set up before meson.build made it relocatable (meson configure $BUILD -Dpkgconfig.relocatable=true)"
fi
MINE="$SCRATCH/mine"
cp -r "$SRC/examples/module" "$MINE"
rm -f "$MINE/wordlen.so"
if env -u PKG_CONFIG_LIBDIR PKG_CONFIG_PATH="$PREFIX/$libdir/pkgconfig" make -C "$MINE" \
    > "$SCRATCH/make.log" 2>&1; then
    ok "an out-of-tree module builds with the prefix's troupe.pc"
else
    fail "make failed:"; cat "$SCRATCH/make.log" >&2; finish
fi
grep -qF -- "-L$PREFIX/" "$SCRATCH/make.log" \
    || fail "the module was not linked against the moved prefix's libtroupe"
(cd / && installed "$PREFIX/bin/troupe" run "$MINE/wordlen.zpl") > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "wordlen from the moved prefix: exit code" "$?" 0
expect_file_eq "wordlen from the moved prefix: output" "$SCRATCH/out" "$SRC/tests/expected/wordlen.out"
expect_nothing_left installwait "the moved prefix"
finish
