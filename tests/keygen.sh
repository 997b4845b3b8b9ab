#!/usr/bin/env bash
# keygen: troupe keygen writes a CURVE pair as zcert_save does, NAME with no
# secret in it and NAME_secret 0600 (even over an old 0644 one), and prints
# the key that is in the files; it refuses to overwrite without --force and
# refuses a missing folder, an unwritable one and bad NAMEs with a message
# naming them; the pairs work with czmq and CURVE (keygen_curve.py).
. "$(dirname "$0")/lib.sh"
umask 022

expect_exit() { # WANT_CODE WHAT CMD...
    local want=$1 what=$2; shift 2
    "$@" > "$SCRATCH/out" 2> "$SCRATCH/err"
    expect_eq "$what: exit code" "$?" "$want"
}
value() { # FILE KEY: the value of KEY in the certificate FILE
    sed -n "s/^ *$2 = \"\(.*\)\"\$/\1/p" "$1"
}
mode() { stat -c %a "$1"; }

K="$SCRATCH/keys"
mkdir "$K"

expect_exit 0 "keygen --help" "$TROUPE" keygen --help
expect_contains "keygen --help: the secret file" "$SCRATCH/out" "NAME_secret"
expect_contains "keygen --help: the allowlist" "$SCRATCH/out" "allowlist"
expect_exit 0 "--help" "$TROUPE" --help
expect_contains "--help: lists keygen" "$SCRATCH/out" "keygen NAME"

# --- a pair ----------------------------------------------------------------
expect_exit 0 "keygen" "$TROUPE" keygen "$K/node1"
expect_eq "keygen: says what it wrote" "$(sed -n 1p "$SCRATCH/out")" \
    "wrote $K/node1 (public) and $K/node1_secret (secret, keep it private)"
key1=$(sed -n 's/^public key: //p' "$SCRATCH/out")
expect_eq "keygen: prints a Z85 key" "${#key1}" 40
expect_eq "keygen: the printed key is the public file's" "$(value "$K/node1" public-key)" "$key1"
expect_eq "keygen: and the secret file's" "$(value "$K/node1_secret" public-key)" "$key1"
expect_eq "keygen: no secret key in the public file" "$(grep -c secret-key "$K/node1")" 0
expect_eq "keygen: a secret key in the secret file" "$(value "$K/node1_secret" secret-key | wc -c)" 41
expect_eq "keygen: the secret file is 0600" "$(mode "$K/node1_secret")" 600
expect_eq "keygen: the public file is 0644 (umask 022)" "$(mode "$K/node1")" 644
expect_eq "keygen: metadata name" "$(value "$K/node1" name)" node1
expect_eq "keygen: metadata created-by" "$(value "$K/node1" created-by)" \
    "$("$TROUPE" version | cut -d' ' -f1-2)"
expect_eq "keygen: metadata hostname" "$(value "$K/node1" hostname)" "$(uname -n)"
expect_eq "keygen: no temp file left" "$(ls -A "$K" | paste -sd' ')" "node1 node1_secret"
expect_exit 0 "keygen --name" "$TROUPE" keygen --name "node one" "$K/n1"
expect_eq "keygen --name: metadata name" "$(value "$K/n1" name)" "node one"

# --- never overwritten without --force -------------------------------------
cp -p "$K/node1" "$SCRATCH/node1.was"
cp -p "$K/node1_secret" "$SCRATCH/node1_secret.was"
expect_exit 2 "keygen over a pair" "$TROUPE" keygen "$K/node1"
expect_contains "keygen over a pair: names the file" "$SCRATCH/err" "'$K/node1' exists"
expect_contains "keygen over a pair: says how" "$SCRATCH/err" "--force"
expect_file_eq "keygen over a pair: public file untouched" "$K/node1" "$SCRATCH/node1.was"
expect_file_eq "keygen over a pair: secret file untouched" "$K/node1_secret" "$SCRATCH/node1_secret.was"
rm "$K/node1"
expect_exit 2 "keygen over a lone secret" "$TROUPE" keygen "$K/node1"
expect_contains "keygen over a lone secret: names it" "$SCRATCH/err" "'$K/node1_secret' exists"
expect_eq "keygen over a lone secret: writes no public file" "$(ls "$K/node1" 2>&1 >/dev/null | grep -c 'No such')" 1
cp -p "$SCRATCH/node1.was" "$K/node1"

# --force: a new pair; an old secret file made 0644 by hand comes back 0600,
# and a secret that is a symlink is replaced, not written through
chmod 644 "$K/node1_secret"
expect_exit 0 "keygen --force" "$TROUPE" keygen --force "$K/node1"
key1new=$(sed -n 's/^public key: //p' "$SCRATCH/out")
[ "$key1new" != "$key1" ] && [ ${#key1new} -eq 40 ] && ok "keygen --force: a new key" ||
    fail "keygen --force: key '$key1new' after '$key1'"
expect_eq "keygen --force: the new key in the file" "$(value "$K/node1" public-key)" "$key1new"
expect_eq "keygen --force: the secret file is 0600 again" "$(mode "$K/node1_secret")" 600
echo "not a key" > "$SCRATCH/elsewhere"
ln -sf "$SCRATCH/elsewhere" "$K/n1_secret"
expect_exit 0 "keygen -f over a symlink" "$TROUPE" keygen -f "$K/n1"
expect_eq "keygen -f over a symlink: its target untouched" "$(cat "$SCRATCH/elsewhere")" "not a key"
[ -f "$K/n1_secret" ] && [ ! -L "$K/n1_secret" ] && ok "keygen -f over a symlink: a file now" ||
    fail "keygen -f over a symlink: n1_secret is still a link"
expect_eq "keygen -f over a symlink: 0600" "$(mode "$K/n1_secret")" 600

# --- usage errors: exit 2, a message, nothing written ------------------------
expect_exit 2 "keygen without NAME" "$TROUPE" keygen
expect_contains "keygen without NAME: says so" "$SCRATCH/err" "which NAME?"
expect_exit 2 "keygen with two NAMEs" "$TROUPE" keygen "$K/a" "$K/b"
expect_contains "keygen with two NAMEs: says so" "$SCRATCH/err" "one NAME at a time"
expect_exit 2 "keygen with a bad option" "$TROUPE" keygen --bogus "$K/a"
expect_contains "keygen bad option: named" "$SCRATCH/err" "'--bogus'"
expect_exit 2 "keygen ''" "$TROUPE" keygen ""
expect_contains "keygen '': says so" "$SCRATCH/err" "an empty NAME"
expect_exit 2 "keygen --name ''" "$TROUPE" keygen --name "" "$K/a"
expect_contains "keygen --name '': says so" "$SCRATCH/err" "must not be empty"
expect_exit 2 "keygen --name with a quote" "$TROUPE" keygen --name 'a"b' "$K/a"
expect_contains "keygen --name with a quote: says so" "$SCRATCH/err" "control characters"
expect_exit 2 "keygen FOLDER/" "$TROUPE" keygen "$K/"
expect_contains "keygen FOLDER/: says so" "$SCRATCH/err" "'$K/' is a folder"
expect_exit 2 "keygen over a folder" "$TROUPE" keygen "$SCRATCH"
expect_contains "keygen over a folder: says so" "$SCRATCH/err" "'$SCRATCH' is a folder"
expect_exit 2 "keygen .hidden" "$TROUPE" keygen "$K/.hidden"
expect_contains "keygen .hidden: says why" "$SCRATCH/err" "starts with '.'"
expect_exit 2 "keygen x_secret" "$TROUPE" keygen "$K/x_secret"
expect_contains "keygen x_secret: says why" "$SCRATCH/err" "ends in _secret"
expect_exit 2 "keygen in a missing folder" "$TROUPE" keygen "$SCRATCH/nope/node1"
expect_contains "missing folder: named" "$SCRATCH/err" "folder '$SCRATCH/nope' does not exist"
[ -e "$SCRATCH/nope" ] && fail "missing folder: made" || ok "missing folder: not made"
expect_exit 2 "keygen under a file" "$TROUPE" keygen "$K/node1/x"
expect_contains "keygen under a file: named" "$SCRATCH/err" "'$K/node1' is not a folder"
expect_eq "usage errors: nothing written" "$(ls -A "$K" | paste -sd' ')" "n1 n1_secret node1 node1_secret"

# --- a folder keygen may not write in: exit 1 --------------------------------
RO="$SCRATCH/ro"
mkdir "$RO"
chmod 555 "$RO"
as_user=()
if [ "$(id -u)" -eq 0 ]; then # root writes anywhere: be nobody for this one
    if command -v setpriv > /dev/null; then
        chmod o+x "$SCRATCH"
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
        as_user=(skip)
    fi
fi
if [ "${as_user[0]:-}" = skip ]; then
    echo "root without setpriv: unwritable folder not checked"
else
    expect_exit 1 "keygen in an unwritable folder" "${as_user[@]}" "$TROUPE" keygen "$RO/node1"
    expect_contains "unwritable folder: named" "$SCRATCH/err" "cannot write in folder '$RO': Permission denied"
    expect_eq "unwritable folder: nothing left" "$(ls -A "$RO")" ""
fi
chmod 755 "$RO"

# --- the pairs work: czmq reads them, CURVE over tcp with an allowlist -------
expect_exit 0 "keygen head" "$TROUPE" keygen "$K/head"
expect_exit 0 "keygen node2" "$TROUPE" keygen "$K/node2"
mkdir "$SCRATCH/allow"
cp "$K/node1" "$SCRATCH/allow/"
if /usr/bin/python3 "$SRC/tests/keygen_curve.py" "$K" "$SCRATCH/allow"; then
    ok "the pairs work with czmq and CURVE"
else
    fail "the pairs work with czmq and CURVE"
fi
finish
