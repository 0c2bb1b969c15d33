# shellcheck shell=bash
# Stages of a long script, and the summary it prints when it ends, however
# it ends. Sourced by scripts/test; scripts/stages_test.go runs it with fake
# stages.
#
#   stages_plan NAME...          every stage, in order, before the first runs
#   stage NAME COMMAND [ARG...]  runs one; under set -e a failure ends the
#                                script, and the summary names this stage
#   stage_log NAME COMMAND...    the same, with the output also kept, so that
#                                the summary names the first failing test
#                                (`--- FAIL: TestX`) or fuzz target
#   stage_skip NAME WHY          a stage this run leaves out, and why
#
# The summary goes to stderr from an EXIT trap: every planned stage as ok,
# FAILED, skipped or not run (after a failure), then the first failure.

stages_planned=()
declare -A stage_result=()
stage_current=""
stage_started=0
stage_output=""

stages_plan() {
  stages_planned=("$@")
  stage_output="$(mktemp)"
  trap 'stages_summary $?' EXIT
}

stage() {
  local name=$1
  shift
  stage_begin "$name"
  "$@"
  stage_result[$name]="ok $((SECONDS - stage_started))s"
  stage_current=""
}

stage_log() {
  local name=$1
  shift
  stage_begin "$name"
  "$@" 2>&1 | tee "$stage_output"
  stage_result[$name]="ok $((SECONDS - stage_started))s"
  stage_current=""
}

stage_begin() {
  stage_current=$1
  stage_started=$SECONDS
  : >"$stage_output"
}

stage_skip() {
  stage_result[$1]="skipped ($2)"
}

# first_failure prints the first failing test in a go test or scripts/fuzz
# output, with its package: "TestX (./internal/pkg)"; nothing if none.
first_failure() {
  awk '
    !name && match($0, /--- FAIL: [^ ]+/) { name = substr($0, RSTART + 10, RLENGTH - 10); next }
    name && !pkg && /^FAIL[ \t]/ { pkg = $2 }
    !name && /^FAIL[ \t]+[^ \t]+[ \t]/ && !bare { bare = $2 }
    !name && /^fuzz: FAIL / { name = $4; pkg = $3 }
    END {
      if (name && pkg) print name " (" pkg ")"
      else if (name) print name
      else if (bare) print "package " bare
    }' "$1"
}

stages_summary() {
  local status=$1 failed="" detail="" name result
  if [[ -n $stage_current ]]; then
    failed=$stage_current
    detail="$(first_failure "$stage_output")"
    stage_result[$failed]="FAILED after $((SECONDS - stage_started))s${detail:+: first failure $detail}"
  fi
  rm -f "$stage_output"
  {
    echo
    echo "summary:"
    for name in "${stages_planned[@]}"; do
      result=${stage_result[$name]:-}
      if [[ -z $result ]]; then
        result="not run"
        [[ -z $failed ]] || result="not run (after the failure)"
      fi
      printf '  %-14s %s\n' "$name" "$result"
    done
    if [[ -n $failed ]]; then
      echo "FAILED: $failed${detail:+: $detail} (the full output is above)"
    elif [[ $status -eq 0 ]]; then
      echo "all stages passed"
    fi
  } >&2
}
