// `snapkeep config init`: a commented sample configuration that shows every key with its default.
// The defaults are interpolated from the schema and builtInDefaults, so the sample cannot drift
// from what snapkeep does; a unit test checks that it validates.
import { debianTextfileDirectory } from './metrics-schema.js';
import { builtInDefaults, configSchema } from './schema.js';

export function sampleConfig(): string {
  const top = configSchema.parse({});
  const snap = builtInDefaults.snapshot_retention;
  const copies = builtInDefaults.target_retention;
  return `# snapkeep configuration (YAML).
#   snapkeep config validate   check it (errors name file:line, the key and what is expected)
#   snapkeep config show       print every effective value, defaults included
#   snapkeep run --dry-run     print what a run would do, changing nothing
#
# Editor completion: the package ships schema/snapkeep.schema.json; with the YAML language server
# put "# yaml-language-server: $schema=<path to it>" on the first line.
#
# Paths must be absolute, without ".." and without control characters. Names (of targets and
# subvolumes) use letters, digits, "_", "." and "-". Keys shown commented out are optional.
# Retention follows btrbk: first snapshot of each hour/day/week/month/year, times in local time.
#
# Application data (restic repositories, PostgreSQL databases, folders) is configured below the
# subvolumes, then the schedules and the notifications.

# Where the run journal, the lock and the quickstart sandbox live.
state_dir: ${top.state_dir}

# Transfers that may run at once (1-16); one subvolume's sends to one target always run in order.
parallel: ${top.parallel}

# Defaults for every subvolume and target; each subvolume or target may override any of them.
defaults:
  # Timestamp in snapshot names: short = YYYYMMDD, long = YYYYMMDDThhmm,
  # long-iso = YYYYMMDDThhmmss±hhmm (records the UTC offset: unambiguous across DST changes).
  timestamp_format: ${builtInDefaults.timestamp_format}
  # always = a new snapshot every run; onchange = only if the subvolume changed since the newest one.
  snapshot_create: ${builtInDefaults.snapshot_create}
  # Retention of the local snapshots (in each subvolume's snapshot_dir).
  snapshot_retention:
    # Keep every snapshot this young, whatever the matrix says: all | latest | no | N[hdwmy].
    preserve_min: ${snap.preserve_min}
    # Then keep the first snapshot of each of the last N hours/days/weeks/months/years,
    # e.g. "24h 7d 4w 6m 2y"; "*d" = every day forever; "no" = nothing beyond preserve_min.
    preserve: ${snap.preserve}
    # Weeks (and so months and years) start on this day.
    preserve_day_of_week: ${snap.preserve_day_of_week}
    # Days start at this hour (0-23): a snapshot at 02:00 belongs to the previous day if this is 3.
    preserve_hour_of_day: ${snap.preserve_hour_of_day}
  # Retention of the copies on targets (same keys; "latest" keeps the newest copy as the parent
  # for the next incremental send).
  target_retention:
    preserve_min: ${copies.preserve_min}
    preserve: ${copies.preserve}
    preserve_day_of_week: ${copies.preserve_day_of_week}
    preserve_hour_of_day: ${copies.preserve_hour_of_day}

# How snapkeep reaches ssh:// targets (each target may override any key under its own ssh:).
# It opens one connection per host per run and never prompts (BatchMode): the key needs no
# passphrase or an agent, and the host key must be known. Prepare a host with
# "snapkeep remote setup" and check it with "snapkeep remote verify <target>".
# ssh:
#   identity_file: /root/.ssh/snapkeep_ed25519
#   known_hosts: /etc/snapkeep/known_hosts
#   cipher: aes128-gcm@openssh.com
#   options: [ServerAliveInterval=15]
#   sudo: true                 # btrfs through sudo -n on the host (default: true unless user is root)
#   connect_timeout: 10
#   compression: none          # zstd: compress streams on both ends (slow links)

# Where snapshots are sent, by name: a directory on another btrfs filesystem (another disk),
# or on another machine as ssh://user@host[:port]/path.
targets:
  usb-disk:
    path: /mnt/backup-disk/snapkeep
    # Overrides defaults.target_retention for the copies on this target (any of its keys):
    # retention:
    #   preserve: 7d 4w 12m
  # offsite:
  #   path: ssh://snapkeep@backup.example.org/mnt/backup/laptop
  #   ssh:
  #     identity_file: /root/.ssh/snapkeep_ed25519

# What is snapshotted, by name. Snapshots are called <snapshot_name>.YYYYMMDDThhmm, like btrbk's;
# the name of the entry is the snapshot_name unless one is given.
subvolumes:
  home:
    # The btrfs subvolume to snapshot (with the top-level subvolume mounted, e.g. at /mnt/btrfs-root).
    path: /mnt/btrfs-root/@home
    # Directory on the same filesystem for the read-only snapshots. Default: <path>/.snapshots
    snapshot_dir: /mnt/btrfs-root/.snapshots
    # Snapshot basename. Default: the name of this entry ("home"). To take over existing btrbk
    # snapshots, use btrbk's snapshot_dir and snapshot_name: snapkeep then keeps, prunes and sends them.
    # snapshot_name: home
    # Names of targets (above) this subvolume is sent to. Default: [] (local snapshots only).
    targets: [usb-disk]
    # Any of these override defaults: for this subvolume only:
    # snapshot_create: onchange
    # timestamp_format: long-iso
    # snapshot_retention:
    #   preserve: 48h 14d
    # target_retention:        # its copies on every target (wins over the target's retention)
    #   preserve: 14d 8w 12m 3y

# --- Application data into restic (snapkeep backup / restore <set>) ----------------------------
# restic repositories, by name. Passwords and credentials are references, never values: they
# read env:NAME, file:/path (its first line) or op://vault/item/field (1Password CLI).
# repositories:
#   local:
#     url: /var/backups/restic              # or s3:https://host/bucket/path, rest:https://…, sftp:…
#     password: file:/etc/snapkeep/restic-password
#   # offsite:
#   #   url: s3:https://s3.example.org/backups/app
#   #   password: env:RESTIC_OFFSITE_PASSWORD
#   #   env: { AWS_ACCESS_KEY_ID: env:OFFSITE_KEY_ID, AWS_SECRET_ACCESS_KEY: env:OFFSITE_SECRET }
#   #   append_only: true                   # the server refuses deletes; forget needs an admin identity

# What to back up, by name: directories, or PostgreSQL databases dumped straight into restic
# (pg_dump custom format, uncompressed: dedups between runs; restic compresses).
# sources:
#   database:
#     type: postgres
#     databases: [app]                      # or: all
#     host: /var/run/postgresql             # a socket directory, or a host name
#     user: postgres
#   uploads:
#     type: directory
#     paths: [/srv/app/uploads]
#     exclude: ["*.tmp"]

# Backup sets: sources captured in one run and restored as one point (restore app latest brings
# back the database AND the files of the same run).
# backup_sets:
#   app:
#     sources: [database, uploads]
#     repository: local
#     restore:                              # around a restore over the live data (argv lists)
#       stop: [[systemctl, stop, app.service]]
#       start: [[systemctl, start, app.service]]

# --- Schedules: snapkeep runs itself (snapkeep schedule show / install / status / remove) ---------
# Named jobs, installed as systemd timers (or one /etc/cron.d file where systemd does not run).
# - command: run | snapshot | resume | prune | backup | verify | "verify --drill"
# - when:    a systemd calendar event: daily, hourly, "*-*-* 00/4:00:00", "Mon..Fri 02:30"
# - every:   instead of when, an interval that divides an hour or a day: 15min, 4h, 1d
# - only:    these subvolumes (run, snapshot, resume, prune) or backup sets (backup, verify)
# Optional: random_delay (default 5min, the same offset every time), on_ac_power (false),
# nice (10), io_class (best-effort | idle | realtime), timeout (12h), lock_wait (1h: wait for a
# running job instead of failing), inhibit_sleep (true for run, resume, backup).
# "snapkeep schedule show" prints the next 5 times of each job.
schedules:
  four-hourly:
    command: run
    every: 4h
  # A weekly restore drill: the latest run of each backup set restored into scratch space and
  # compared with what was dumped (needs backup_sets).
  weekly-drill:
    command: verify --drill
    when: Sun 03:30
    io_class: idle
  # nightly_backup:
  #   command: backup
  #   when: "*-*-* 01:30"
  #   only: [app]
  #   on_ac_power: true

# Laptops (systemd): read-only snapshots just before the machine sleeps (never delaying sleep by
# more than 10 s), and after it wakes, once the network is up, the pending sends (snapkeep resume).
sleep:
  snapshot: false
  sync_on_wake: false

# --- Prometheus metrics (snapkeep metrics prints them on stdout) -------------------------------
# Scheduled runs also write them, atomically, into node_exporter's textfile collector directory
# (Debian's is below); share/prometheus/snapkeep.rules.yml holds alert rules for them.
# metrics:
#   textfile_dir: ${debianTextfileDirectory}
#   textfile_runs: scheduled        # or all: runs started by hand write it too
# --- Notifications (snapkeep notify test; doctor notify) -------------------------------------------
# Who is told when a scheduled backup fails, is killed, recovers, or silently stops (stale): any
# number of e-mail, ntfy, webhook and healthchecks channels. Every credential is a secret
# reference (env:NAME, file:/path, op://…), never the secret itself. Only scheduled runs notify;
# a problem is told once, again every remind_every while it lasts, and "recovered" once. With
# schedules, a watchdog job (hourly) tells about stale jobs even if no backup runs at all.
# notify:
#   events: [failure, partial, killed, interrupted, recovered, stale, drill-failed, target-full, lock-conflict]
#   remind_every: 24h
#   timeout: 10s                          # a channel slower than this counts as failed
#   email:
#     admin:
#       host: smtp.example.com
#       port: 587
#       security: starttls                # starttls | tls (port 465) | none
#       user: alerts@example.com
#       password: env:SMTP_PASSWORD
#       from: snapkeep@example.com
#       to: [admin@example.com]
#   ntfy:
#     phone:
#       server: https://ntfy.sh
#       topic: env:NTFY_TOPIC             # on a public server the topic name is the password
#       token: env:NTFY_TOKEN
#   webhook:
#     chat:
#       url: env:CHAT_WEBHOOK_URL
#       template: { text: "{{message}}" }   # the body a chat service wants (default: snapkeep-notification/1 JSON)
#   healthchecks:
#     deadman:
#       url: env:HEALTHCHECKS_URL         # https://hc-ping.com/<uuid>: start, success, fail, log

# --- The AWS target as code (snapkeep infra plan / apply / destroy) -----------------------------
# An EC2 instance with an encrypted EBS volume running the target filter, made by OpenTofu or
# Terraform from infra/aws; apply writes the new target into targets: above.
# infra:
#   aws:
#     region: eu-central-1
#     ssh_public_key_file: /root/.ssh/snapkeep.pub   # ssh-keygen -t ed25519 -f /root/.ssh/snapkeep
#     allowed_ssh_cidrs: [203.0.113.7/32]            # your public address; never 0.0.0.0/0
#     instance_type: t4g.nano                        # default; ~15 USD/month with 100 GiB
#     volume_size_gb: 100
#     # offsite_bucket: { name: my-restic-offsite }   # S3 with versioning + Object Lock for restic
`;
}
