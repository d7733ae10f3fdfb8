# Inputs of the boot script. The root module passes values its own validations already checked;
# the checks here keep the script safe when this module is rendered on its own (tests, console).

variable "volume_id" {
  description = "The EBS volume to set up: its id is the NVMe serial number the script looks for."
  type        = string
  validation {
    condition     = can(regex("^vol-([0-9a-f]{8}|[0-9a-f]{17})$", var.volume_id))
    error_message = "The volume_id must be an EBS volume id such as vol-0123456789abcdef0."
  }
}

variable "device_name" {
  description = "The device name given to the attachment (what Xen instances show as /dev/xvdX)."
  type        = string
  default     = "/dev/sdh"
  validation {
    condition     = can(regex("^/dev/(sd|xvd)[f-p]$", var.device_name))
    error_message = "The device_name must be /dev/sdf … /dev/sdp (or the xvd form)."
  }
}

variable "backup_user" {
  type = string
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.backup_user)) && var.backup_user != "root"
    error_message = "The backup_user must be a POSIX user name other than root."
  }
}

variable "mount_point" {
  type = string
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_:@+=,-][A-Za-z0-9._:@+=,-]*)+$", var.mount_point))
    error_message = "The mount_point must be an absolute path in the target filter's grammar."
  }
}

variable "backup_root" {
  description = "The filter's --root: a directory below mount_point."
  type        = string
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_:@+=,-][A-Za-z0-9._:@+=,-]*)+$", var.backup_root))
    error_message = "The backup_root must be an absolute path in the target filter's grammar."
  }
}

variable "fs_label" {
  description = "Label of the btrfs filesystem created on an empty volume."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.fs_label))
    error_message = "The fs_label must be 1 to 64 characters of A-Z a-z 0-9 _ -."
  }
}

variable "ssh_public_key" {
  description = "snapkeep's OpenSSH public key line."
  type        = string
  validation {
    # Same grammar as authorizedKeysLine in src/remote/remote-setup.ts.
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\\.com) [A-Za-z0-9+/]+=*( [^\\r\\n\"]*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line."
  }
}

variable "append_only" {
  description = "Refuse deletes on the target (filter --no-delete, no delete rule in sudoers)."
  type        = bool
  default     = false
  nullable    = false
}

variable "filter_script" {
  description = "The text of share/snapkeep-target-filter.sh."
  type        = string
  validation {
    # The script is embedded in a quoted here-document: it must end with a newline and must not
    # contain the line that ends the here-document.
    condition     = startswith(var.filter_script, "#!/bin/sh\n") && endswith(var.filter_script, "\n") && !strcontains(var.filter_script, "\nSNAPKEEP_END_OF_FILTER\n")
    error_message = "The filter_script must be snapkeep's target filter (a /bin/sh script ending with a newline)."
  }
}
