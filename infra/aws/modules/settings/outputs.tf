# The checks that involve more than one input live here as preconditions (a validation block can
# only see its own variable in every tofu/terraform version this module supports).

output "backup_root" {
  description = "The directory snapkeep's key may use: <mount_point>/backups."
  value       = local.backup_root
}

output "ssh_cidrs" {
  description = "Every network allowed to reach SSH."
  value       = local.ssh_cidrs
  precondition {
    condition     = length(local.ssh_cidrs) > 0
    error_message = "Nobody could reach SSH: list your address in allowed_ssh_cidrs (e.g. [\"203.0.113.7/32\"]) or set allow_ssh_from_anywhere = true."
  }
}

output "ssh_cidrs_ipv4" {
  value = local.ssh_cidrs_ipv4
}

output "ssh_cidrs_ipv6" {
  value = local.ssh_cidrs_ipv6
}

output "names" {
  description = "Resource names and Name tags."
  value       = local.names
}

output "fs_label" {
  value = local.fs_label
}

output "tags" {
  value = local.tags
}

output "admin_ssh_public_key" {
  description = "The admin key, or empty for no EC2 key pair."
  value       = trimspace(var.admin_ssh_public_key)
  precondition {
    condition     = var.admin_ssh_public_key == "" || local.admin_key_data != local.ssh_key_data
    error_message = "The admin_ssh_public_key must differ from ssh_public_key: the admin account has full sudo, and snapkeep's key must stay confined by the filter."
  }
}

output "availability_zone" {
  description = "The zone asked for (empty: let the root module pick one)."
  value       = var.availability_zone
  precondition {
    condition     = var.availability_zone == "" || can(regex("^${var.region}[a-z]$", var.availability_zone))
    error_message = "The availability_zone must be a zone of the region (e.g. ${var.region}a)."
  }
  precondition {
    condition     = var.availability_zone == "" || var.subnet_id == ""
    error_message = "Set availability_zone or subnet_id, not both: a subnet already decides the zone."
  }
}

output "filter_script_path" {
  description = "The target filter installed on the host."
  value       = local.filter_script_path
}

output "bucket_name" {
  description = "The bucket to create, or empty."
  value       = var.create_offsite_bucket ? var.bucket_name : ""
  precondition {
    condition     = !var.create_offsite_bucket || var.bucket_name != ""
    error_message = "The create_offsite_bucket = true needs a bucket_name (globally unique, e.g. \"snapkeep-offsite-<your name>\")."
  }
  precondition {
    condition     = var.create_offsite_bucket || var.bucket_name == ""
    error_message = "The bucket_name is set but create_offsite_bucket is false: set create_offsite_bucket = true to create it, or remove bucket_name."
  }
  precondition {
    condition     = var.noncurrent_version_days == 0 || var.noncurrent_version_days >= var.object_lock_days
    error_message = "The noncurrent_version_days must be 0 (keep) or at least object_lock_days: a version cannot be removed while it is locked."
  }
}

output "backup_policy" {
  description = "IAM policy (JSON) of the backup identity."
  value       = local.backup_policy
}

output "admin_policy" {
  description = "IAM policy (JSON) of the admin identity (restic forget/prune)."
  value       = local.admin_policy
}

output "bucket_policy" {
  description = "Bucket policy (JSON): TLS only."
  value       = local.bucket_policy
}

output "restic_repository" {
  description = "The restic repository URL in the bucket, or empty."
  value       = local.restic_repository
}
