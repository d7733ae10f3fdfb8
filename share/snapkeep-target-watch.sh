#!/bin/sh
# snapkeep target watch: runs on a backup target (from the crontab of the user snapkeep logs in
# as) and tells someone when no new copy of a device's snapshots has arrived within a threshold.
# POSIX sh (runs under dash), no Node; curl or GNU wget sends. Installed by
#   snapkeep remote setup --watch TARGET        (removed again by --unwatch TARGET)
# next to its configuration (watch.conf, mode 0600, written by snapkeep: it holds the channels'
# secrets) and its state (state: which alert each channel has been sent, and when).
#
# A device is a snapshot directory on this host and a snapshot base name; its newest copy is the
# newest entry `<name>.<timestamp>[_N]` (snapkeep's and btrbk's names: YYYYMMDD, YYYYMMDDThhmm,
# YYYYMMDDThhmmss with Z or +-hhmm). Names without an offset are in the sending machine's time
# zone, whose name the configuration carries (its offset today is used: around a daylight saving
# change an age can be off by an hour). A writable subvolume (a receive running or interrupted)
# is not a copy. No matching entry counts as stale.
#
# Per channel: ntfy and webhook get "stale" once when a device goes stale, "reminder" every
# `remind` seconds while it lasts (0: never) and "recovered" once when copies arrive again.
# healthchecks is pinged on every healthy run (the service notices when this host goes silent
# too) and gets /fail once when stale (and at each reminder). A delivery that fails (no answer
# within `timeout` seconds, or an answer other than 2xx) is not recorded: the next run tries
# again. Secrets reach curl and wget only through stdin and files of mode 0600, never argv.
# SNAPKEEP_WATCH_REPORT_ONLY=1 prints each device's newest copy and sends nothing;
# SNAPKEEP_WATCH_NOW=<epoch seconds> stands in for the clock (tests of reminders).
# Exit status: 0 all devices fresh, 1 a device is stale, 2 a delivery failed, 3 bad setup.

# watch.conf calls device, ntfy, webhook and healthchecks, which shellcheck cannot see.
# shellcheck disable=SC2317
set -u
umask 077

here=${SNAPKEEP_WATCH_DIR:-$(cd "$(dirname "$0")" && pwd)}
conf=$here/watch.conf
state=$here/state

fail_setup() {
  printf 'snapkeep-target-watch: %s\n' "$1" >&2
  exit 3
}

[ -r "$conf" ] || fail_setup "no configuration at $conf (run snapkeep remote setup --watch again)"

# Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
days_from_civil() {
  dc_y=$1 dc_m=$2 dc_d=$3
  if [ "$dc_m" -le 2 ]; then dc_y=$((dc_y - 1)); fi
  dc_era=$((dc_y / 400))
  dc_yoe=$((dc_y - dc_era * 400))
  if [ "$dc_m" -gt 2 ]; then dc_mp=$((dc_m - 3)); else dc_mp=$((dc_m + 9)); fi
  dc_doy=$(((153 * dc_mp + 2) / 5 + dc_d - 1))
  dc_doe=$((dc_yoe * 365 + dc_yoe / 4 - dc_yoe / 100 + dc_doy))
  echo $((dc_era * 146097 + dc_doe - 719468))
}

# YYYYMMDD hhmmss (digits, leading zeros allowed) as seconds, read as UTC.
civil_seconds() {
  cs_date=$1 cs_time=$2
  cs_y=${cs_date%????}
  cs_m=${cs_date#????}
  cs_m=${cs_m%??}
  cs_d=${cs_date#??????}
  # "08" is octal in shell arithmetic: 1xx - 100 reads it as decimal.
  cs_days=$(days_from_civil "$((1$cs_y - 10000))" "$((1$cs_m - 100))" "$((1$cs_d - 100))")
  cs_h=${cs_time%????}
  cs_min=${cs_time#??}
  cs_min=${cs_min%??}
  cs_s=${cs_time#????}
  echo $((cs_days * 86400 + (1$cs_h - 100) * 3600 + (1$cs_min - 100) * 60 + (1$cs_s - 100)))
}

# +hhmm / -hhmm as seconds east of UTC.
offset_seconds() {
  os_sign=${1%????}
  os_digits=${1#?}
  os_h=${os_digits%??}
  os_m=${os_digits#??}
  os_value=$(((1$os_h - 100) * 3600 + (1$os_m - 100) * 60))
  if [ "$os_sign" = - ]; then echo $((-os_value)); else echo "$os_value"; fi
}

# The epoch seconds of a snapshot timestamp (the part after `<name>.`), or nothing.
timestamp_seconds() {
  ts=${1%%_*}
  case $1 in
    *_*) case ${1#*_} in '' | *[!0-9]*) return 0 ;; esac ;;
  esac
  d8='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
  # shellcheck disable=SC2254
  case $ts in
    $d8) civil_seconds "$ts" 000000 | local_to_utc ;;
    ${d8}T[0-9][0-9][0-9][0-9]) civil_seconds "${ts%T*}" "${ts#*T}00" | local_to_utc ;;
    ${d8}T[0-9][0-9][0-9][0-9][0-9][0-9]Z)
      ts_time=${ts#*T}
      civil_seconds "${ts%T*}" "${ts_time%Z}"
      ;;
    ${d8}T[0-9][0-9][0-9][0-9][0-9][0-9][+-][0-9][0-9][0-9][0-9])
      ts_time=${ts#*T}
      ts_offset=${ts_time#??????}
      ts_local=$(civil_seconds "${ts%T*}" "${ts_time%?????}")
      echo $((ts_local - $(offset_seconds "$ts_offset")))
      ;;
  esac
}

local_to_utc() {
  read -r lu_value
  echo $((lu_value - zone_offset))
}

now=$(civil_seconds "$(date -u +%Y%m%d)" "$(date -u +%H%M%S)")
[ -n "${SNAPKEEP_WATCH_NOW:-}" ] && now=$SNAPKEEP_WATCH_NOW

# Settings, overwritten by watch.conf.
target=target
threshold=93600
remind=86400
timeout=10
zone=UTC
host_name=$(uname -n | tr -cd 'A-Za-z0-9._-')

# Pass 1: the devices. Channels are read in pass 2.
device_count=0
stale_count=0
report=''
report_json=''

# A JSON string's content: backslash and quote escaped, line breaks and tabs as \n and \t, other
# control characters dropped (a directory name may hold any of them).
json_text() {
  printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g; s/	/\\t/g; s/$/\\n/' | tr -d '\n\r' |
    tr -d '\001-\010\013\014\016-\037' | sed 's/\\n$//'
}
# btrfs, if here (cron's PATH may lack the sbin directories).
btrfs_command=''
for candidate in btrfs /usr/sbin/btrfs /sbin/btrfs; do
  if command -v "$candidate" >/dev/null 2>&1; then
    btrfs_command=$(command -v "$candidate")
    break
  fi
done

# The sending machine's offset from UTC today (watch.conf sets zone before its first device).
zone_offset=''
set_zone_offset() {
  if [ -e "/usr/share/zoneinfo/$zone" ]; then
    zone_offset=$(offset_seconds "$(TZ=$zone date +%z)")
  else
    zone_offset=0
    printf 'snapkeep-target-watch: time zone %s unknown here; reading names as UTC\n' "$zone" >&2
  fi
}

device() {
  dv_dir=$1 dv_name=$2
  [ -n "$zone_offset" ] || set_zone_offset
  device_count=$((device_count + 1))
  dv_best=''
  dv_best_name=''
  dv_future=0
  for dv_entry in "$dv_dir/$dv_name".*; do
    [ -e "$dv_entry" ] || continue
    dv_base=${dv_entry##*/}
    dv_seconds=$(timestamp_seconds "${dv_base#"$dv_name".}")
    [ -n "$dv_seconds" ] || continue
    # A name more than an hour ahead of this clock (a sender whose clock was wrong) would keep the
    # device fresh until it is pruned: it does not count, so a device with only such copies alerts.
    if [ "$dv_seconds" -gt $((now + 3600)) ]; then
      dv_future=$((dv_future + 1))
      continue
    fi
    # A writable subvolume is a receive still running or one that was interrupted (garbage the
    # next run deletes): not a copy. Reading the flag needs no root.
    if [ -n "$btrfs_command" ] && [ "$("$btrfs_command" property get -ts "$dv_entry" ro 2>/dev/null)" = ro=false ]; then
      continue
    fi
    if [ -z "$dv_best" ] || [ "$dv_seconds" -gt "$dv_best" ]; then
      dv_best=$dv_seconds
      dv_best_name=$dv_base
    fi
  done
  if [ -z "$dv_best" ]; then
    stale_count=$((stale_count + 1))
    dv_line="$dv_name in $dv_dir: no copy at all"
    [ "$dv_future" -gt 0 ] && dv_line="$dv_name in $dv_dir: no copy dated before now ($dv_future named in the future: is the sender's clock right?)"
    dv_json="{\"directory\":\"$(json_text "$dv_dir")\",\"name\":\"$(json_text "$dv_name")\",\"stale\":true}"
  else
    dv_age=$((now - dv_best))
    dv_stale=false
    if [ "$dv_age" -gt "$threshold" ]; then
      dv_stale=true
      stale_count=$((stale_count + 1))
    fi
    dv_line="$dv_name in $dv_dir: newest $dv_best_name, $(describe_age "$dv_age") ago"
    [ "$dv_stale" = true ] && dv_line="$dv_line (stale)"
    dv_json="{\"directory\":\"$(json_text "$dv_dir")\",\"name\":\"$(json_text "$dv_name")\",\"newest\":\"$(json_text "$dv_best_name")\",\"ageSeconds\":$dv_age,\"stale\":$dv_stale}"
  fi
  report="$report$dv_line
"
  report_json="$report_json${report_json:+,}$dv_json"
}

describe_age() {
  da=$1
  if [ "$da" -lt 0 ]; then echo 'in the future'; return; fi
  if [ "$da" -ge 86400 ]; then echo "$((da / 86400)) d $((da % 86400 / 3600)) h"; return; fi
  if [ "$da" -ge 3600 ]; then echo "$((da / 3600)) h $((da % 3600 / 60)) min"; return; fi
  echo "$((da / 60)) min"
}

ntfy() { :; }
webhook() { :; }
healthchecks() { :; }
# shellcheck source=/dev/null
. "$conf"

[ "$device_count" -gt 0 ] || fail_setup "$conf names no device"
if [ "$stale_count" -gt 0 ]; then status=stale; else status=ok; fi
# `remote setup --watch` shows what the host sees, without sending anything.
if [ -n "${SNAPKEEP_WATCH_REPORT_ONLY:-}" ]; then
  printf '%s' "$report"
  exit 0
fi

# How to send: curl, else GNU wget (busybox wget takes headers only in argv).
if command -v curl >/dev/null 2>&1; then
  client=curl
elif command -v wget >/dev/null 2>&1 && wget --version 2>/dev/null | grep -q 'GNU Wget'; then
  client=wget
else
  fail_setup 'neither curl nor GNU wget is installed on this host; install one (apt-get install curl)'
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/snapkeep-watch.XXXXXX") || fail_setup 'cannot make a temporary directory'
trap 'rm -rf "$work"' EXIT
# A trapped signal would otherwise go on with the run: end it (EXIT cleans up).
trap 'exit 130' INT
trap 'exit 143' TERM

# A value inside a curl config "…" string.
curl_quote() {
  printf '%s' "$1" | sed 's/[\\"]/\\&/g'
}

# http_send METHOD URL BODY_FILE [HEADER …]: 0 on a 2xx answer. The URL and the headers (secrets)
# go to curl on stdin (-K -) and to wget in files, never on the command line.
http_send() {
  hs_method=$1 hs_url=$2 hs_body=$3
  shift 3
  if [ "$client" = curl ]; then
    {
      printf 'url = "%s"\n' "$(curl_quote "$hs_url")"
      for hs_header in "$@"; do printf 'header = "%s"\n' "$(curl_quote "$hs_header")"; done
    } >"$work/curl.conf"
    hs_code=$(curl -sS -o "$work/answer" -w '%{http_code}' --max-time "$timeout" \
      --connect-timeout "$timeout" -X "$hs_method" --data-binary "@$hs_body" -K - <"$work/curl.conf" 2>"$work/error")
    hs_status=$?
    if [ "$hs_status" -ne 0 ]; then
      last_error="curl: $(tr '\n' ' ' <"$work/error")(exit $hs_status)"
      return 1
    fi
    case $hs_code in
      2??) return 0 ;;
    esac
    last_error="HTTP $hs_code: $(head -c 200 "$work/answer" | tr '\n' ' ')"
    return 1
  fi
  {
    for hs_header in "$@"; do printf 'header = %s\n' "$hs_header"; done
  } >"$work/wgetrc"
  printf '%s\n' "$hs_url" >"$work/url"
  WGETRC=$work/wgetrc wget -q -O "$work/answer" --timeout="$timeout" --tries=1 --max-redirect=0 \
    --method="$hs_method" --body-file="$hs_body" -i "$work/url" 2>"$work/error"
  hs_status=$?
  [ "$hs_status" -eq 0 ] && return 0
  last_error="wget: exit $hs_status (4 network, 8 an error answer) $(tr '\n' ' ' <"$work/error")"
  return 1
}

# Channel state: "<channel> <status> <seconds of the last delivery>".
state_of() {
  [ -r "$state" ] || return 0
  while read -r so_name so_status so_time; do
    if [ "$so_name" = "$1" ]; then
      echo "$so_status $so_time"
      return 0
    fi
  done <"$state"
}

: >"$work/state"
failures=0
sent=0
# What this channel is told now: stale, reminder, recovered or nothing (and what to record).
decide() {
  de_known=$(state_of "$1")
  de_status=${de_known% *}
  de_time=${de_known#* }
  [ -n "$de_known" ] || { de_status=ok; de_time=0; }
  # A damaged state line (not a number, or too long for sh arithmetic) would end every run here.
  case $de_time in '' | *[!0-9]* | ??????????????????*) de_time=0 ;; esac
  kind=''
  if [ "$status" = stale ]; then
    if [ "$de_status" != stale ]; then
      kind=stale
    elif [ "$remind" -gt 0 ] && [ $((now - de_time)) -ge "$remind" ]; then
      kind=reminder
    fi
  elif [ "$de_status" = stale ]; then
    kind=recovered
  fi
  keep="$1 $de_status $de_time"
}

delivered() {
  sent=$((sent + 1))
  printf '%s %s %s\n' "$1" "$status" "$now" >>"$work/state"
}

undelivered() {
  failures=$((failures + 1))
  printf 'snapkeep-target-watch: channel %s: %s\n' "$1" "$last_error" >&2
  printf '%s\n' "$keep" >>"$work/state"
}

title_of() {
  case $1 in
    stale) echo "snapkeep: no new copy on $host_name ($target) for $stale_count of $device_count devices" ;;
    reminder) echo "snapkeep: still no new copy on $host_name ($target) for $stale_count of $device_count devices" ;;
    recovered) echo "snapkeep: copies arrive again on $host_name ($target)" ;;
    *) echo "snapkeep: copies arrive on $host_name ($target)" ;;
  esac
}

body_text() {
  printf '%s\n\n%s' "$(title_of "$1")" "$report" >"$work/body"
}

ntfy() {
  nt_name=$1 nt_url=$2 nt_token=$3 nt_stale_priority=$4 nt_recovered_priority=$5 nt_stale_tags=$6 nt_recovered_tags=$7
  decide "$nt_name"
  [ -n "$kind" ] || { printf '%s\n' "$keep" >>"$work/state"; return 0; }
  printf '%s' "$report" >"$work/body"
  if [ "$kind" = recovered ]; then
    set -- "Priority: $nt_recovered_priority" "Tags: $nt_recovered_tags"
  else
    set -- "Priority: $nt_stale_priority" "Tags: $nt_stale_tags"
  fi
  case $1 in 'Tags: ') shift ;; esac
  set -- "Title: $(title_of "$kind")" "$@"
  [ -n "$nt_token" ] && set -- "$@" "Authorization: Bearer $nt_token"
  if http_send POST "$nt_url" "$work/body" "$@"; then delivered "$nt_name"; else undelivered "$nt_name"; fi
}

webhook() {
  wh_name=$1 wh_url=$2 wh_method=$3
  shift 3
  decide "$wh_name"
  [ -n "$kind" ] || { printf '%s\n' "$keep" >>"$work/state"; return 0; }
  wh_message=$(json_text "$report")
  wh_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '{"version":"snapkeep-target-watch/1","kind":"%s","host":"%s","target":"%s","time":"%s","staleDevices":%s,"title":"%s","message":"%s","devices":[%s]}\n' \
    "$kind" "$(json_text "$host_name")" "$target" "$wh_time" "$stale_count" "$(json_text "$(title_of "$kind")")" "$wh_message" "$report_json" >"$work/body"
  if http_send "$wh_method" "$wh_url" "$work/body" 'Content-Type: application/json' "$@"; then
    delivered "$wh_name"
  else
    undelivered "$wh_name"
  fi
}

healthchecks() {
  hc_name=$1 hc_url=${2%/}
  decide "$hc_name"
  if [ "$status" = ok ]; then
    # Every healthy run pings: the check itself notices when this host stops running us.
    body_text "${kind:-ok}"
    if http_send POST "$hc_url" "$work/body" 'Content-Type: text/plain; charset=utf-8'; then
      delivered "$hc_name"
    else
      undelivered "$hc_name"
    fi
    return 0
  fi
  [ -n "$kind" ] || { printf '%s\n' "$keep" >>"$work/state"; return 0; }
  body_text "$kind"
  if http_send POST "$hc_url/fail" "$work/body" 'Content-Type: text/plain; charset=utf-8'; then
    delivered "$hc_name"
  else
    undelivered "$hc_name"
  fi
}

# Pass 2: the channels (the devices are counted already).
device() { :; }
# shellcheck source=/dev/null
. "$conf"

mv "$work/state" "$state" || fail_setup "cannot write $state"
{
  printf 'status %s at %s: %s of %s devices stale, %s sent, %s failed\n' \
    "$status" "$now" "$stale_count" "$device_count" "$sent" "$failures"
  printf '%s' "$report"
} >"$here/last-run"
if [ "$failures" -gt 0 ]; then exit 2; fi
if [ "$status" = stale ]; then exit 1; fi
exit 0
