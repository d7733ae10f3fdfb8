# What snapkeep (`snapkeep infra`) and people read after apply. Every output is always present:
# "" stands for "none" (a null output would be missing from `output -json`).

output "host" {
  description = "Public address of the target (an Elastic IP: stable across instance replacement)."
  value       = aws_eip.target.public_ip
}

output "user" {
  description = "The account snapkeep logs in as."
  value       = var.backup_user
}

output "mount_point" {
  description = "Where the backup volume is mounted on the target."
  value       = var.mount_point
}

output "backup_root" {
  description = "The directory snapkeep's key may use (the filter's --root)."
  value       = module.settings.backup_root
}

output "target_url" {
  description = "The target's path for snapkeep's configuration (targets.<name>.path)."
  value       = "ssh://${var.backup_user}@${aws_eip.target.public_ip}${module.settings.backup_root}"
}

output "region" {
  value = var.region
}

output "availability_zone" {
  value = aws_ebs_volume.backups.availability_zone
}

output "instance_id" {
  value = aws_instance.target.id
}

output "ami_id" {
  description = "The image the instance was created from."
  value       = aws_instance.target.ami
}

output "volume_id" {
  value = aws_ebs_volume.backups.id
}

output "volume_name" {
  description = "Name tag of the backup volume (destroying it deletes every backup on it)."
  value       = aws_ebs_volume.backups.tags["Name"]
}

output "security_group_id" {
  value = aws_security_group.ssh.id
}

output "host_keys_command" {
  description = "Prints the console log with the host key fingerprints (compare them before the first connection)."
  value       = "aws ec2 get-console-output --region ${var.region} --instance-id ${aws_instance.target.id} --latest --output text"
}

output "admin_ssh" {
  description = "SSH command for the admin account, or empty without admin_ssh_public_key."
  value       = length(aws_key_pair.admin) > 0 ? "ssh admin@${aws_eip.target.public_ip}" : ""
}

output "bucket" {
  description = "The offsite S3 bucket, or empty."
  value       = length(aws_s3_bucket.offsite) > 0 ? aws_s3_bucket.offsite[0].bucket : ""
}

output "restic_repository" {
  description = "restic repository URL in the bucket (backup_sets repository), or empty."
  value       = length(aws_s3_bucket.offsite) > 0 ? module.settings.restic_repository : ""
}

output "backup_iam_user" {
  description = "IAM user for restic backups (create its access key with aws iam create-access-key), or empty."
  value       = length(aws_iam_user.backup) > 0 ? aws_iam_user.backup[0].name : ""
}

output "admin_iam_user" {
  description = "IAM user for restic forget/prune, or empty."
  value       = length(aws_iam_user.admin) > 0 ? aws_iam_user.admin[0].name : ""
}
