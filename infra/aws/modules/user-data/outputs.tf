output "content" {
  description = "The boot script (plain text; the instance gets it gzip-compressed)."
  value       = local.content
}

output "filter_command" {
  description = "The forced command in authorized_keys."
  value       = local.filter_command
}

output "authorized_keys" {
  description = "The backup user's authorized_keys line."
  value       = local.authorized_keys
}

output "sudoers" {
  description = "The sudoers rule (/etc/sudoers.d/<sudoers_file>)."
  value       = local.sudoers
}

output "sudoers_file" {
  value = local.sudoers_file
}
