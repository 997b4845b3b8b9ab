#!/usr/bin/env bash
# slurm: troupe run --slurm. First, without Slurm, what a head refuses
# before it starts anything: no allocation, malformed node lists and CPU
# counts, a heterogeneous job, a head under srun, no srun on PATH, keys
# given besides. Then against a real Slurm of its own (munged, slurmctld,
# two slurmd on this host as nodes n1 and n2, under a temporary directory,
# on ports of its own, torn down at the end): a pipeline submitted with
# `sbatch --wait` prints exactly its squares and ran on n2 inside the job
# step the head started (stats, the step in squeue, SLURM_STEP_ID in the
# workers' environment, no key there); `scancel` mid-run leaves no process
# of the job; the node's step killed mid-run leaves the output exact; a
# node that cannot reach the head, and a step that cannot start, each
# fail the run with a line that names the node, in bounded time, with
# nothing left. A part that cannot run here says why and is skipped.
. "$(dirname "$0")/lib.sh"

# a fake allocation for the refusals: run_fake ENV... -- ARGS
run_fake() {
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env -u SLURM_JOB_ID -u SLURM_JOBID -u SLURM_JOB_NODELIST -u SLURM_NODELIST \
        -u SLURM_JOB_NUM_NODES -u SLURM_JOB_CPUS_PER_NODE -u SLURM_CPUS_ON_NODE \
        -u SLURMD_NODENAME -u SLURM_STEP_ID -u SLURM_HET_SIZE -u SLURM_CONF \
        "${envs[@]}" "$(command -v timeout)" 60 "$TROUPE" run --slurm "$@" "$SCRATCH/slurmmap.zpl" \
        > "$SCRATCH/out" 2> "$SCRATCH/err"
}

# --- refused before anything starts ----------------------------------------
map_pipeline slurmmap 1000 2
run_fake --
expect_eq "--slurm outside an allocation: exit code" "$?" 2
expect_contains "--slurm outside an allocation: says so" "$SCRATCH/err" \
    "troupe: --slurm: not inside a Slurm allocation (no SLURM_JOB_ID)"
for bad in 'n[1-' 'n1,,n2' 'n[3-1]' 'n]1' 'n[1,x]' 'n[1[2]]' 'n1,'; do
    run_fake SLURM_JOB_ID=7 "SLURM_JOB_NODELIST=$bad" --
    expect_eq "node list '$bad': exit code" "$?" 2
    expect_contains "node list '$bad': names the variable and the list" "$SCRATCH/err" \
        "troupe: --slurm: SLURM_JOB_NODELIST: '$bad' is not a Slurm node list"
done
run_fake SLURM_JOB_ID=7 SLURM_JOB_NODELIST= --
expect_eq "an empty node list: exit code" "$?" 2
expect_contains "an empty node list: no usable node" "$SCRATCH/err" \
    "job 7 has no usable node: SLURM_JOB_NODELIST is empty"
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-40]' --
expect_eq "40 nodes: exit code" "$?" 2
expect_contains "40 nodes: too many" "$SCRATCH/err" "a head takes 32 besides its own"
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' 'SLURM_JOB_CPUS_PER_NODE=2(x3)' --
expect_eq "CPU counts for 3 of 2 nodes: exit code" "$?" 2
expect_contains "CPU counts for 3 of 2 nodes: says so" "$SCRATCH/err" \
    "SLURM_JOB_CPUS_PER_NODE: '2(x3)' gives CPU counts for more than 2 node(s)"
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' 'SLURM_JOB_CPUS_PER_NODE=2(x' --
expect_eq "a malformed CPU count: exit code" "$?" 2
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' SLURM_JOB_NUM_NODES=3 --
expect_eq "a node count the list does not have: exit code" "$?" 2
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' SLURM_HET_SIZE=2 --
expect_eq "a heterogeneous job: exit code" "$?" 2
expect_contains "a heterogeneous job: not supported" "$SCRATCH/err" "heterogeneous job"
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' SLURM_STEP_ID=0 --
expect_eq "a head under srun: exit code" "$?" 2
expect_contains "a head under srun: says where to run it" "$SCRATCH/err" "job step 7.0"
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=n[1-2]' -- --key "$SCRATCH/none"
expect_eq "--slurm with --key: exit code" "$?" 2
# the expansion, as -v says it, then srun missing
run_fake SLURM_JOB_ID=7 'SLURM_JOB_NODELIST=a[1-3],b[08-10]' SLURMD_NODENAME=a2 \
    'SLURM_JOB_CPUS_PER_NODE=1(x3),4(x2),2' PATH=/nonexistent -- -v
expect_eq "no srun on PATH: exit code" "$?" 2
expect_contains "a node list expanded, the head's own node out" "$SCRATCH/err" \
    "the head on a2 (1 CPUs); troupe node on a1 (1 CPUs), a3 (1 CPUs), b08 (4 CPUs), b09 (4 CPUs), b10 (2 CPUs)"
expect_contains "no srun on PATH: says so" "$SCRATCH/err" \
    "troupe: --slurm: no srun on PATH (/nonexistent)"
expect_nothing_left slurmmap "refusals"

# --- a Slurm of our own -------------------------------------------------------
skip() {
    echo "skip: $*"
    finish
}
for p in munged slurmctld slurmd sbatch srun scancel squeue scontrol; do
    command -v $p > /dev/null || skip "Slurm parts: no $p here (.ci/deps installs slurmctld, slurmd, slurm-client and munge)"
done
[ "$(id -u)" -eq 0 ] || skip "Slurm parts: slurmd must run as root (SlurmdUser) to start jobs"

CL=$(mktemp -d /tmp/troupe-slurm.XXXXXX)
chmod 755 "$CL" # munged wants its socket's folders open to all
CONF="$CL/slurm.conf"
export SLURM_CONF="$CONF"

# every process whose environment names our slurm.conf is ours: the
# daemons, their slurmstepd and what the jobs ran
our_pids() {
    grep -lzxsF "SLURM_CONF=$CONF" /proc/[0-9]*/environ 2> /dev/null \
        | sed 's|/proc/\([0-9]*\)/environ|\1|' | grep -vx "$$" || true
}
# the processes of job $1 (slurmstepd, and anything in its environment)
job_pids() {
    { pgrep -f "slurmstepd: \[$1\." || true
      grep -lzxsF "SLURM_JOB_ID=$1" /proc/[0-9]*/environ 2> /dev/null \
          | sed 's|/proc/\([0-9]*\)/environ|\1|'; } | sort -u | grep -vx "$$" || true
}
# what they are, for a failure's message
job_left() {
    local pids
    pids=$(job_pids "$1" | paste -sd,)
    [ -z "$pids" ] || ps -o pid=,ppid=,stat=,etime=,args= -p "$pids" | tr '\n' ';'
}
teardown() {
    main_shell || return 0
    squeue -h -o %i 2> /dev/null | xargs -r scancel 2> /dev/null
    local pids
    for sig in TERM KILL; do
        pids=$(our_pids)
        [ -n "$pids" ] && kill -$sig $pids 2> /dev/null
        for _ in $(seq 50); do [ -z "$(our_pids)" ] && break; sleep 0.1; done
    done
    [ -f "$CL/munged.pid" ] && kill "$(cat "$CL/munged.pid")" 2> /dev/null
    rm -rf "$CL" "$SCRATCH"
}
trap teardown EXIT
trap 'exit 143' TERM INT # meson's timeout: the EXIT trap still tears down
logs() { # on failure: what the daemons said
    tail -n 15 "$CL"/log/*.log >&2
}

free_ports() { # N free tcp ports on 127.0.0.1
    /usr/bin/python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
read -r p_ctld p_n1 p_n2 <<< "$(free_ports 3)"
mkdir -p "$CL/mkey" "$CL/mrun" "$CL/state" "$CL/spool" "$CL/log"
chmod 700 "$CL/mkey"
chmod 755 "$CL/mrun"
dd if=/dev/urandom of="$CL/mkey/munge.key" bs=1024 count=1 status=none
chmod 400 "$CL/mkey/munge.key"
SLURM_CONF="$CONF" timeout 20 munged --socket="$CL/mrun/sock" --key-file="$CL/mkey/munge.key" \
    --pid-file="$CL/munged.pid" --log-file="$CL/log/munged.log" --seed-file="$CL/mkey/seed" \
    || skip "Slurm parts: munged does not start here: $(tail -n 1 "$CL/log/munged.log" 2> /dev/null)"

# proctrack/linuxproc and task/none: no cgroup, which a network namespace
# (ip netns exec) hides and slurmd then refuses to start without
cat > "$CONF" <<CONF
ClusterName=troupetest
SlurmctldHost=$(hostname)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$p_ctld
AuthType=auth/munge
AuthInfo=socket=$CL/mrun/sock
CredType=cred/munge
StateSaveLocation=$CL/state
SlurmdSpoolDir=$CL/spool/%n
SlurmctldPidFile=$CL/slurmctld.pid
SlurmdPidFile=$CL/slurmd-%n.pid
SlurmctldLogFile=$CL/log/slurmctld.log
SlurmdLogFile=$CL/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=300
NodeName=n1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$p_n1 CPUs=2 State=UNKNOWN
NodeName=n2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$p_n2 CPUs=2 State=UNKNOWN
PartitionName=all Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
timeout 20 slurmctld -i || { logs; skip "Slurm parts: slurmctld does not start here"; }
nodes=2
for n in n1 n2; do
    if ! timeout 20 slurmd -N $n; then
        logs
        [ $n = n1 ] && skip "Slurm parts: slurmd does not start here (a cgroup it needs hidden?)"
        echo "note: a second slurmd does not start here (no multiple-slurmd build?): one node"
        nodes=1
        break
    fi
done
for _ in $(seq 300); do
    [ "$(sinfo -h -t idle -o %D 2> /dev/null)" == "$nodes" ] && break
    sleep 0.1
done
[ "$(sinfo -h -t idle -o %D)" == "$nodes" ] || { logs; skip "Slurm parts: the nodes never came up: $(sinfo -h 2> /dev/null)"; }
ok "a Slurm of our own: $nodes node(s) idle"

# the head's address: its host name's, unless that does not resolve here
listen=()
getent hosts "$(hostname)" > /dev/null || listen=(--listen 'tcp://127.0.0.1:*')

# job NAME SCRIPT-BODY: $SCRATCH/NAME.sh, a batch script
job() {
    printf '#!/bin/bash\n%s\n' "$2" > "$SCRATCH/$1.sh"
}

# --- sbatch --wait: exact output, the work ran in the node's step -----------
if [ "$nodes" -lt 2 ]; then
    echo "skip: the parts with a node: one slurmd only here"
    finish
fi
map_pipeline slurmsq 200000 4
job sq "'$TROUPE' run --slurm -v ${listen[*]} --stats '$SCRATCH/sq.json' '$SCRATCH/slurmsq.zpl' > '$SCRATCH/sq.out' 2> '$SCRATCH/sq.err'
echo \$? > '$SCRATCH/sq.rc'"
timeout 120 sbatch --wait -N2 --exclusive -o "$SCRATCH/sq.log" "$SCRATCH/sq.sh" > /dev/null
expect_eq "sbatch --wait: the job's exit code" "$?" 0
expect_eq "sbatch --wait: troupe run's exit code" "$(cat "$SCRATCH/sq.rc")" 0
squares 200000 > "$SCRATCH/want"
expect_file_eq "sbatch --wait: output exact" "$SCRATCH/sq.out" "$SCRATCH/want"
expect_contains "the head read the allocation" "$SCRATCH/sq.err" \
    "the head on n1 (2 CPUs); troupe node on n2 (2 CPUs)"
expect_contains "the node the head started joined" "$SCRATCH/sq.err" "node 'n2' joined (2 cores"
read -r on_head on_n2 < <(/usr/bin/python3 -c '
import json, sys
a = [a for a in json.load(open(sys.argv[1]))["actors"] if a["name"] == "work"][0]
print(a["nodes"].get("head", 0), a["nodes"].get("n2", 0))' "$SCRATCH/sq.json")
[ "${on_head:-0}" -gt 0 ] && [ "${on_n2:-0}" -gt 0 ]
expect_eq "work ran on the head and on n2 ($on_head $on_n2)" "$?" 0
expect_nothing_left slurmsq "sbatch --wait"

# --- scancel mid-run: nothing of the job left ---------------------------------
map_pipeline slurmlong 1000000000 4
job long "'$TROUPE' run --slurm ${listen[*]} '$SCRATCH/slurmlong.zpl' > /dev/null 2> '$SCRATCH/long.err'"
id=$(sbatch --parsable -N2 --exclusive -o "$SCRATCH/long.log" "$SCRATCH/long.sh")
in_step=""
for _ in $(seq 300); do
    for p in $(pgrep -f "^troupe: slurmlong/work#"); do
        env_of=$(tr '\0' '\n' < /proc/$p/environ 2> /dev/null)
        grep -qx "SLURM_JOB_ID=$id" <<< "$env_of" && grep -qx "SLURMD_NODENAME=n2" <<< "$env_of" \
            && grep -q "^SLURM_STEP_ID=" <<< "$env_of" && in_step=$p
        grep -q "^TROUPE_NODE_SECRET=" <<< "$env_of" && fail "a node's key in its actor's environment (pid $p)"
    done
    [ -n "$in_step" ] && break
    sleep 0.1
done
expect_eq "a worker on n2 runs in a job step of job $id" "${in_step:+yes}" yes
expect_eq "squeue shows the head's step on n2" \
    "$(squeue -h -s -j "$id" -o '%i %j %N' | grep -v batch)" "$id.0 troupe-node n2"
scancel "$id"
for _ in $(seq 600); do [ -z "$(job_pids "$id")" ] && break; sleep 0.1; done
expect_eq "scancel: no process of job $id left" "$(job_left "$id")" ""
expect_eq "scancel: no actor of the pipeline left" "$(actor_pids slurmlong)" ""
expect_eq "scancel: the job is CANCELLED" \
    "$(scontrol show job "$id" | grep -o 'JobState=[A-Z]*')" "JobState=CANCELLED"
expect_contains "scancel: the head says so" "$SCRATCH/long.err" "the job is cancelled: killing every actor"
rm -rf "$XDG_RUNTIME_DIR"/troupe-* # what SIGKILL after KillWait could have left
expect_nothing_left slurmlong "scancel"

# --- the node's step killed mid-run: output still exact -----------------------
map_pipeline slurmkill 2000000 4
job kill "'$TROUPE' run --slurm -v ${listen[*]} '$SCRATCH/slurmkill.zpl' > '$SCRATCH/kill.out' 2> '$SCRATCH/kill.err'
echo \$? > '$SCRATCH/kill.rc'"
id=$(sbatch --parsable -N2 --exclusive -o "$SCRATCH/kill.log" "$SCRATCH/kill.sh")
for _ in $(seq 600); do grep -q "joined: starting" "$SCRATCH/kill.err" 2> /dev/null && break; sleep 0.1; done
sleep 1
scancel "$id.0"
for _ in $(seq 1200); do [ -f "$SCRATCH/kill.rc" ] && break; sleep 0.1; done
expect_eq "the node's step killed: troupe run's exit code" "$(cat "$SCRATCH/kill.rc" 2> /dev/null)" 0
squares 2000000 > "$SCRATCH/want"
expect_file_eq "the node's step killed: output exact" "$SCRATCH/kill.out" "$SCRATCH/want"
expect_contains "the node's step killed: the node is lost" "$SCRATCH/kill.err" "node 'n2' lost"
for _ in $(seq 100); do [ -z "$(job_pids "$id")" ] && break; sleep 0.1; done
expect_eq "the node's step killed: no process of job $id left" "$(job_left "$id")" ""
rm -rf "$XDG_RUNTIME_DIR"/troupe-node-* # the SIGKILLed node's
expect_nothing_left slurmkill "the node's step killed"

# --- a node that cannot reach the head ----------------------------------------
# An srun in front of the real one sends the node to a port where nothing
# listens, as a firewall between the nodes and the head would.
mkdir -p "$SCRATCH/fw"
read -r closed <<< "$(free_ports 1)"
cat > "$SCRATCH/fw/srun" <<FW
#!/bin/bash
args=()
for a in "\$@"; do args+=("\$(sed 's|^tcp://\(.*\):[0-9]*\$|tcp://\1:$closed|' <<< "\$a")"); done
exec $(command -v srun) "\${args[@]}"
FW
chmod +x "$SCRATCH/fw/srun"
job fw "PATH='$SCRATCH/fw':\$PATH timeout 60 '$TROUPE' run --slurm --wait 3 ${listen[*]} '$SCRATCH/slurmmap.zpl' > /dev/null 2> '$SCRATCH/fw.err'
echo \$? > '$SCRATCH/fw.rc'"
timeout 120 sbatch --wait -N2 --exclusive -o "$SCRATCH/fw.log" "$SCRATCH/fw.sh" > /dev/null
# 1, not timeout's 124: the head gave up by itself, after its --wait
expect_eq "a node that cannot reach the head: troupe run's exit code (its own end)" \
    "$(cat "$SCRATCH/fw.rc")" 1
expect_contains "a node that cannot reach the head: names it, and the address" "$SCRATCH/fw.err" \
    "1 of 1 node(s) did not join the head at tcp://"
expect_contains "a node that cannot reach the head: says why" "$SCRATCH/fw.err" \
    "n2 (its troupe node never reached the head); the nodes must reach that address and port"
id=$(squeue -h -t all -o %i -n fw.sh | tail -n 1)
expect_eq "a node that cannot reach the head: no process of its job left" \
    "$(job_left "${id:-none}")" ""
expect_nothing_left slurmmap "a node that cannot reach the head"

# --- a step that cannot start ---------------------------------------------------
# outside any job, with a job id Slurm does not have: srun refuses the step
SLURM_JOB_ID=999999 SLURM_JOB_NODELIST='n[1-2]' SLURMD_NODENAME=n1 \
    timeout 60 "$TROUPE" run --slurm "${listen[@]}" "$SCRATCH/slurmmap.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "a step srun cannot start: exit code" "$?" 1
expect_contains "a step srun cannot start: names the node" "$SCRATCH/err" \
    "did not join the head at tcp://"
expect_contains "a step srun cannot start: its step ended" "$SCRATCH/err" "n2 (its step ended, exit"
expect_nothing_left slurmmap "a step srun cannot start"
[ "$FAILED" -ne 0 ] && logs
finish
