#!/usr/bin/env bash
# A throw-away, single-node Slurm for trying and testing the slurm/ job scripts: munged,
# slurmctld and slurmd from Debian's packages, run as root, without systemd or cgroups, all
# their state in one folder. Nothing under /etc is changed: point the Slurm commands at it with
#   eval "$(scripts/slurm-local.sh env)"
#
#   scripts/slurm-local.sh start         install the packages if missing, start the daemons,
#                                        wait until the node is idle (running already: nothing)
#   scripts/slurm-local.sh stop          end every job, stop the daemons (stopped already: nothing)
#   scripts/slurm-local.sh status        the daemons, sinfo and squeue; exit 0 when Slurm answers
#   scripts/slurm-local.sh env           prints the export of SLURM_CONF
#   scripts/slurm-local.sh wait JOBID    waits until the job (every element of an array) has
#                                        ended; prints "JOBID STATE EXITCODE" per job
#
# Settings (environment):
#   MPIPOOL_SLURM_DIR   the folder of config, state and logs [${TMPDIR:-/tmp}/mpipool-slurm]
#   MPIPOOL_SLURM_CPUS  CPUs the node advertises [the real count]; more than there are is
#                       allowed, for jobs of more tasks than cores
#   MPIPOOL_SLURM_PORT  slurmctld's port; slurmd takes the next one [16817: not a real Slurm's]
#   MPIPOOL_SLURM_KILL_WAIT  seconds from SIGTERM to SIGKILL at a time limit or scancel [10]
#   MPIPOOL_SLURM_MPI_DEFAULT  the MPI plugin of an srun without --mpi [pmix]; Slurm's own
#                       default, and many sites', is none, under which Open MPI fails in MPI_Init
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${MPIPOOL_SLURM_DIR:-${TMPDIR:-/tmp}/mpipool-slurm}"
conf="$dir/slurm.conf"
socket="$dir/munge/munge.socket"
port="${MPIPOOL_SLURM_PORT:-16817}"
kill_wait="${MPIPOOL_SLURM_KILL_WAIT:-10}"
mpi_default="${MPIPOOL_SLURM_MPI_DEFAULT:-pmix}"
node=localhost  # the name slurmd registers as (-N), whatever the host is called
export SLURM_CONF="$conf"

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

# Polls every 0.2 s for up to $1 seconds until the rest of the line succeeds.
poll() {
  local tries=$(($1 * 5)); shift
  until "$@"; do
    ((--tries > 0)) || return 1
    sleep 0.2
  done
}

# A zombie counts as gone: where PID 1 reaps late, a stopped daemon lingers as one.
pid_alive() {
  local state
  state="$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The daemon named by a pid file runs (a daemon removes its pid file as it exits).
alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" && [ -n "$pid" ] && pid_alive "$pid"
}

node_state() { timeout 5 sinfo -h -n "$node" -o %T 2>/dev/null || true; }
node_idle() { [ "$(node_state)" = idle ]; }
munge_answers() { munge -S "$socket" -n 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1; }
controller_answers() { timeout 5 scontrol ping 2>/dev/null | grep -q UP; }

# Daemons keep every descriptor they inherit: started from a pipe (CI's log), they would hold it
# open for their whole life. They get none but /dev/null and their log.
daemon() {
  local log="$1"; shift
  ( for fd in "/proc/$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if ((fd > 2)); then eval "exec $fd>&-"; fi
    done 2>/dev/null
    exec "$@" </dev/null >>"$log" 2>&1 )
}

write_config() {
  local cpus memory
  read -r cpus memory < <(slurmd -C | tr ' ' '\n' | awk -F= '$1=="CPUs"{c=$2} $1=="RealMemory"{m=$2} END{print c, m}')
  cpus="${MPIPOOL_SLURM_CPUS:-$cpus}"
  cat >"$1" <<EOF
# Written by scripts/slurm-local.sh: one node, no accounting, no cgroups.
ClusterName=mpipool-local
SlurmctldHost=$node
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MailProg=/bin/true
# No systemd or cgroups needed: processes are tracked by their parents.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Start a batch job on the next scheduler tick, not three seconds later.
SchedulerParameters=batch_sched_delay=0
# The node may advertise more CPUs than it has.
SlurmdParameters=config_overrides
# Open MPI 4.1 starts under srun through PMIx only: a plain srun works with pmix here.
MpiDefault=$mpi_default
ReturnToService=2
KillWait=$kill_wait
InactiveLimit=0
# Keep ended jobs for five minutes, for scontrol show job to tell their state and exit code.
MinJobAge=300
# A job that can never run is refused at once instead of pending for ever.
EnforcePartLimits=ALL
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
# Another partition on the same node: a job submitted to it must stay there.
PartitionName=second Nodes=$node MaxTime=INFINITE State=UP
EOF
}

running() {
  alive "$dir/munge/munged.pid" && alive "$dir/run/slurmctld.pid" && alive "$dir/run/slurmd.pid" &&
    controller_answers
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root: munged, slurmctld and slurmd run as root here"
  mkdir -p "$dir"
  if running; then
    write_config "$dir/slurm.conf.wanted"
    if cmp -s "$dir/slurm.conf.wanted" "$conf"; then
      rm -f "$dir/slurm.conf.wanted"
      say "running already (SLURM_CONF=$conf)"
      return 0
    fi
    say "the settings changed: restarting"
  fi
  stop >/dev/null 2>&1 || true  # whatever is left of an earlier run
  MPIPOOL_WITH_SLURM=1 "$root/scripts/install-deps.sh"
  rm -rf "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/slurm.conf.wanted"
  mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/munge"
  # munged wants its socket's folder searchable by all and its key readable by root alone.
  chmod 0755 "$dir" "$dir/munge"
  [ -s "$dir/munge/munge.key" ] || mungekey --create --bits 1024 --keyfile "$dir/munge/munge.key"
  chmod 0600 "$dir/munge/munge.key"
  daemon "$dir/log/munged.out" munged --socket "$socket" --key-file "$dir/munge/munge.key" \
    --pid-file "$dir/munge/munged.pid" --log-file "$dir/log/munged.log" --seed-file "$dir/munge/munged.seed"
  poll 10 munge_answers || die "munged does not answer: $(tail -3 "$dir/log/munged.log")"
  write_config "$conf"
  daemon "$dir/log/slurmctld.out" slurmctld -f "$conf"
  poll 20 controller_answers || die "slurmctld does not answer: $(tail -5 "$dir/log/slurmctld.log")"
  daemon "$dir/log/slurmd.out" slurmd -f "$conf" -N "$node"
  if ! poll 30 node_idle; then  # a node that was down in an earlier run's state
    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
    poll 10 node_idle || die "node $node is '$(node_state)': $(tail -5 "$dir/log/slurmd.log")"
  fi
  say "up: $(sinfo -h -o '%D node, %c CPUs' | head -1), partitions $(sinfo -h -o %P | paste -sd ' '); SLURM_CONF=$conf"
}

# SIGTERM to each daemon, SIGKILL to one still there after 10 s.
stop_daemons() {
  local pidfile pid
  for pidfile in "$@"; do
    pid="$(cat "$pidfile" 2>/dev/null)" || pid=""
    rm -f "$pidfile"
    [ -n "$pid" ] && pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    poll 10 eval "! pid_alive $pid" || { say "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  done
}

stop() {
  local jobs
  if [ -f "$conf" ] && alive "$dir/run/slurmctld.pid"; then
    # No job may outlive slurmd; a teardown does not wait for KillWait.
    jobs="$(timeout 5 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)"
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      scancel --full --signal=KILL $jobs 2>/dev/null || true
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      poll $((kill_wait + 10)) eval '[ -z "$(timeout 5 squeue -h -t PD,R,CG -o %A 2>/dev/null)" ]' ||
        say "jobs left after scancel: $(squeue -h -o %A 2>/dev/null | tr '\n' ' ')"
    fi
  fi
  stop_daemons "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"
  say "stopped"
}

status() {
  local name pidfile answer=0
  for name in munged:munge/munged.pid slurmctld:run/slurmctld.pid slurmd:run/slurmd.pid; do
    pidfile="$dir/${name#*:}"
    if alive "$pidfile"; then echo "${name%%:*}: running, pid $(cat "$pidfile")"
    else echo "${name%%:*}: not running"; answer=1; fi
  done
  if [ "$answer" = 0 ]; then timeout 5 sinfo && timeout 5 squeue || answer=1; fi
  echo "SLURM_CONF=$conf"
  return "$answer"
}

# One line per job, or per array element: "JOBID STATE EXITCODE", once none is still going.
wait_for_job() {
  local job="$1" timeout_s="${2:-600}" lines
  local deadline=$((SECONDS + timeout_s))
  while :; do
    lines="$(scontrol -o show job "$job" 2>/dev/null |
             sed -E 's/^JobId=([0-9]+) .*JobState=([A-Z_]+) .* ExitCode=([0-9]+:[0-9]+) .*$/\1 \2 \3/')" ||
      die "no job $job"
    [ -n "$lines" ] || die "no job $job"
    if ! grep -qE ' (PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT) ' <<<"$lines"; then
      echo "$lines"
      return 0
    fi
    ((SECONDS < deadline)) || die "job $job still going after $timeout_s s: $lines"
    sleep 0.2
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  wait) [ $# -ge 2 ] || die "usage: $0 wait JOBID [timeout_s]"; wait_for_job "$2" "${3:-600}" ;;
  *) echo "usage: $0 start|stop|status|env|wait JOBID [timeout_s]" >&2; exit 2 ;;
esac
