# Every input of the AWS backup target. Each one that takes a value from the user is validated
# here, so a bad value stops `plan` with a message instead of reaching AWS.
#
# modules/settings/variables.tf is a byte-for-byte copy of this file (a test compares them): the
# provider-free settings module is where `terraform test` exercises these validations offline.
#
# Booleans have no validation block: `type = bool` with `nullable = false` already admits only
# true and false.

variable "region" {
  description = "AWS region of every resource, e.g. eu-central-1."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", var.region))
    error_message = "The region must be an AWS region name such as eu-central-1 or us-east-1."
  }
  validation {
    # Debian publishes its AMIs in the standard partition only; ARNs below assume "aws".
    condition     = !can(regex("^(cn|us-gov|us-iso[a-z]*)-", var.region))
    error_message = "The region must be in the standard AWS partition (not China, GovCloud or ISO regions)."
  }
}

variable "name" {
  description = "Prefix of resource names and Name tags, so several targets can share an account."
  type        = string
  default     = "snapkeep"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "The name must be 2 to 24 characters of a-z, 0-9 and -, start with a letter and not end with -."
  }
}

variable "instance_type" {
  description = "EC2 instance type. The default t4g.nano (Graviton, 2 vCPU burst, 0.5 GiB) is the cheapest current type that runs the target: the kernel does the work of btrfs receive, the host runs only sshd, sudo and the filter. Where t4g is not offered, use t3a.nano or t3.nano."
  type        = string
  default     = "t4g.nano"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "The instance_type must be an EC2 instance type such as t4g.nano or t3a.nano."
  }
}

variable "volume_size_gb" {
  description = "Size of the encrypted gp3 backup volume in GiB. It can grow later (then run btrfs filesystem resize max on the host), never shrink."
  type        = number
  default     = 100
  validation {
    condition     = var.volume_size_gb == floor(var.volume_size_gb) && var.volume_size_gb >= 1 && var.volume_size_gb <= 16384
    error_message = "The volume_size_gb must be a whole number of GiB from 1 to 16384 (the gp3 maximum)."
  }
}

variable "ssh_public_key" {
  description = "The OpenSSH public key line (the .pub file) snapkeep connects with. It is installed for the backup user only, behind the target filter."
  type        = string
  validation {
    condition     = !can(regex("REPLACE|\\.\\.\\.|…|<[^>]*>", var.ssh_public_key))
    error_message = "The ssh_public_key is still a placeholder: paste the whole .pub line, e.g. from ssh-keygen -t ed25519 -f ~/.ssh/snapkeep."
  }
  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\\.com) [A-Za-z0-9+/]+=*( [^\\r\\n\"]*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line: type, base64 key, optional comment (e.g. \"ssh-ed25519 AAAAC3Nza… you@host\")."
  }
  validation {
    # The base64 data starts with the key type and has the length of a real key of that type, so
    # a truncated or made-up key (like "AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyDataHere") is refused.
    condition     = can(regex("^(ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]{48}|ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/]{340,}={0,2}|ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAy[A-Za-z0-9+/]{111}=|ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAz[A-Za-z0-9+/]{154}==|ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1[A-Za-z0-9+/]{202}==|sk-ssh-ed25519@openssh\\.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t[A-Za-z0-9+/]{56,}={0,2})( [^\\r\\n\"]*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key data is not a complete key of its type (truncated, made up, or RSA shorter than 2048 bits): copy the whole .pub line."
  }
}

variable "allowed_ssh_cidrs" {
  description = "Networks allowed to reach SSH (port 22), as CIDRs: e.g. [\"203.0.113.7/32\"] for one address. IPv6 CIDRs work when the subnet has IPv6."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for cidr in var.allowed_ssh_cidrs : can(cidrhost(cidr, 0)) && can(regex("/[0-9]+$", cidr))])
    error_message = "Each entry of allowed_ssh_cidrs must be a CIDR such as 203.0.113.7/32 or 2001:db8::/48."
  }
  validation {
    condition     = alltrue([for cidr in var.allowed_ssh_cidrs : try(cidrsubnet(cidr, 0, 0) == cidr, true)])
    error_message = "Each entry of allowed_ssh_cidrs must be written as its network address in lower case (e.g. 203.0.113.0/24, not 203.0.113.7/24)."
  }
  validation {
    condition     = !anytrue([for cidr in var.allowed_ssh_cidrs : endswith(cidr, "/0")])
    error_message = "The allowed_ssh_cidrs may not contain /0 networks: set allow_ssh_from_anywhere = true to open SSH to the whole internet on purpose."
  }
  validation {
    condition     = length(var.allowed_ssh_cidrs) <= 50
    error_message = "At most 50 entries in allowed_ssh_cidrs (a security group holds 60 rules)."
  }
}

variable "allow_ssh_from_anywhere" {
  description = "Open SSH to 0.0.0.0/0 and ::/0. Only the filter-confined key can log in, but every bot on the internet will try."
  type        = bool
  default     = false
  nullable    = false
}

variable "backup_user" {
  description = "The account snapkeep logs in as on the target."
  type        = string
  default     = "snapkeep"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.backup_user))
    error_message = "The backup_user must be a POSIX user name: 1 to 32 of a-z, 0-9, _ and -, not starting with a digit or -."
  }
  validation {
    # Accounts the Debian AMI already has: taking one over would give snapkeep's key its powers
    # (admin has passwordless sudo) or break the forced command (nologin shells).
    condition     = !contains(["root", "admin", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus", "sshd", "polkitd", "_chrony", "debian", "ubuntu", "ec2-user"], var.backup_user) && !startswith(var.backup_user, "systemd-")
    error_message = "The backup_user must be a new account, not one the Debian image already has (root, admin, backup, …)."
  }
}

variable "mount_point" {
  description = "Where the backup volume is mounted on the target. Backups go to <mount_point>/backups."
  type        = string
  default     = "/srv/snapkeep"
  validation {
    # The target filter's path grammar (no quoting): A-Z a-z 0-9 . _ - + @ : = , and /; no
    # component may start with a dot, which also rules out "." and "..".
    condition     = can(regex("^(/[A-Za-z0-9_:@+=,-][A-Za-z0-9._:@+=,-]*)+$", var.mount_point)) && length(var.mount_point) <= 200
    error_message = "The mount_point must be an absolute path of A-Z a-z 0-9 . _ - + @ : = , without a trailing /, no component starting with a dot, at most 200 characters."
  }
  validation {
    condition     = !can(regex("^/(bin|boot|dev|etc|home|lib|lib32|lib64|libx32|proc|root|run|sbin|sys|tmp|usr|var)(/|$)", var.mount_point))
    error_message = "The mount_point may not be a system directory or lie under one (/etc, /usr, /var, /home, …); use e.g. /srv/snapkeep or /mnt/backup."
  }
}

variable "create_offsite_bucket" {
  description = "Also create an S3 bucket for restic (versioning, Object Lock, public access blocked, encrypted) with a least-privilege backup identity and a separate admin identity."
  type        = bool
  default     = false
  nullable    = false
}

variable "bucket_name" {
  description = "Name of the S3 bucket (globally unique); required when create_offsite_bucket is true."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.bucket_name == "" || (can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name)) && !startswith(var.bucket_name, "xn--") && !startswith(var.bucket_name, "sthree-") && !endswith(var.bucket_name, "-s3alias") && !endswith(var.bucket_name, "--ol-s3"))
    error_message = "The bucket_name must be 3 to 63 characters of a-z, 0-9 and -, starting and ending with a letter or digit (no dots: they break TLS for virtual-hosted requests)."
  }
}

variable "bucket_prefix" {
  description = "Folder of the restic repository inside the bucket; the backup identity may touch nothing else."
  type        = string
  default     = "restic"
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.bucket_prefix))
    error_message = "The bucket_prefix must be 1 to 63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (one folder, no /)."
  }
}

variable "object_lock_days" {
  description = "Default Object Lock retention of every object version in the bucket, in days: no identity of this module can destroy a version younger than this."
  type        = number
  default     = 30
  validation {
    condition     = var.object_lock_days == floor(var.object_lock_days) && var.object_lock_days >= 1 && var.object_lock_days <= 36500
    error_message = "The object_lock_days must be a whole number of days from 1 to 36500."
  }
}

variable "object_lock_mode" {
  description = "GOVERNANCE (an account administrator can still remove locked versions) or COMPLIANCE (nobody can, not even the root user, until they expire)."
  type        = string
  default     = "GOVERNANCE"
  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "The object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "noncurrent_version_days" {
  description = "Remove object versions this many days after restic (forget/prune with the admin identity) deleted them; 0 keeps them forever. Current objects never expire: restic packs are shared between snapshots."
  type        = number
  default     = 0
  validation {
    condition     = var.noncurrent_version_days == floor(var.noncurrent_version_days) && var.noncurrent_version_days >= 0 && var.noncurrent_version_days <= 36500
    error_message = "The noncurrent_version_days must be a whole number of days from 0 (keep forever) to 36500."
  }
}

variable "append_only" {
  description = "Refuse btrfs subvolume delete on the target (the filter's --no-delete): a stolen client key cannot remove backups, and pruning the target becomes an admin task."
  type        = bool
  default     = false
  nullable    = false
}

variable "admin_ssh_public_key" {
  description = "Optional OpenSSH public key for the image's admin account (full sudo), installed as the EC2 key pair. Never snapkeep's key: that key must stay behind the filter."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.admin_ssh_public_key == "" || can(regex("^(ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]{48}|ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/]{340,}={0,2}|ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAy[A-Za-z0-9+/]{111}=|ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAz[A-Za-z0-9+/]{154}==|ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1[A-Za-z0-9+/]{202}==)( [^\\r\\n\"]*)?$", trimspace(var.admin_ssh_public_key)))
    error_message = "The admin_ssh_public_key must be empty or one complete OpenSSH public key line (ssh-ed25519, ssh-rsa of 2048+ bits, or ecdsa-sha2-nistp*)."
  }
}

variable "ami" {
  description = "AMI to boot; empty picks the newest official Debian 12 image for the instance type's architecture. Later Debian releases do not replace a running target (the AMI is read at creation only)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.ami == "" || can(regex("^ami-([0-9a-f]{8}|[0-9a-f]{17})$", var.ami))
    error_message = "The ami must be empty or an AMI id such as ami-0123456789abcdef0."
  }
}

variable "availability_zone" {
  description = "Availability zone of the volume (the instance follows it); empty picks the first zone of the region that offers the instance type. Ignored when subnet_id is set."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.availability_zone == "" || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$", var.availability_zone))
    error_message = "The availability_zone must be empty or a zone name such as eu-central-1a."
  }
}

variable "subnet_id" {
  description = "Subnet to launch in (it must give instances a route to the internet); empty uses the region's default VPC."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.subnet_id == "" || can(regex("^subnet-([0-9a-f]{8}|[0-9a-f]{17})$", var.subnet_id))
    error_message = "The subnet_id must be empty or a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "target_filter_path" {
  description = "Path of snapkeep's target filter script; empty means share/snapkeep-target-filter.sh of this repository (set it when this module is copied elsewhere)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.target_filter_path == "" || (startswith(var.target_filter_path, "/") && try(fileexists(var.target_filter_path), false))
    error_message = "The target_filter_path must be empty or the absolute path of an existing file (snapkeep's share/snapkeep-target-filter.sh)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (e.g. for cost allocation)."
  type        = map(string)
  default     = {}
  nullable    = false
  validation {
    condition     = alltrue([for key, value in var.tags : can(regex("^[A-Za-z0-9 _.:/=+@-]{1,128}$", key)) && !startswith(lower(key), "aws:") && length(value) <= 256])
    error_message = "Tag keys must be 1 to 128 characters of letters, digits, space and _ . : / = + @ - (not starting with aws:), values at most 256 characters."
  }
}
