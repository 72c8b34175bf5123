#!/bin/sh
# CI: ask the planner first, then issue from the CA's staging environment.
# Fails the pipeline when the plan is blocked (exit 4): the CA would refuse,
# and the plan says until when. Exit 3 (already held / duplicate) is fine.
#
#   DOMAINS="example.com www.example.com" WEBROOT=/var/www/html sh examples/ci/plan-then-issue.sh
# Optional: CERTCTL (command, default certctl), CERTCTL_HOME (state directory,
# keep it between pipeline runs: the ledger is what makes the plan right).
set -u

CERTCTL=${CERTCTL:-certctl}
: "${DOMAINS:?set DOMAINS to the names, separated by spaces}"
: "${WEBROOT:?set WEBROOT to the directory served at /.well-known/acme-challenge/}"

args=""
for d in $DOMAINS; do args="$args -d $d"; done

# shellcheck disable=SC2086 # word splitting of $args is intended
$CERTCTL plan --staging $args
status=$?
case $status in
  0) echo "plan: allowed" ;;
  3) echo "plan: already held (duplicate); nothing to issue"; exit 0 ;;
  4) echo "plan: BLOCKED by a predicted rate limit; failing the pipeline" >&2; exit 4 ;;
  *) echo "plan failed (exit $status)" >&2; exit "$status" ;;
esac

# shellcheck disable=SC2086
$CERTCTL issue --staging $args --webroot "$WEBROOT"
status=$?
case $status in
  0) echo "issued (staging)" ;;
  3) echo "already held; nothing ordered" ;;
  *) echo "issue failed (exit $status; see certctl --help for the codes)" >&2; exit "$status" ;;
esac
