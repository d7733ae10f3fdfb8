# The inputs' validations and the derived values, offline: modules/settings has no provider and
# carries a copy of ../variables.tf (test/integration/infra-aws.test.ts checks they are equal).
# Run from infra/aws: terraform get && terraform test  (see README.md, "Testing").

variables {
  region            = "eu-central-1"
  ssh_public_key    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr test"
  allowed_ssh_cidrs = ["203.0.113.7/32"]
}

# --- accepted inputs and what follows from them ------------------------------------------------

run "defaults" {
  command = plan
  module {
    source = "./modules/settings"
  }

  assert {
    condition     = output.backup_root == "/srv/snapkeep/backups"
    error_message = "backups go to <mount_point>/backups"
  }
  assert {
    condition     = output.ssh_cidrs == tolist(["203.0.113.7/32"]) && length(output.ssh_cidrs_ipv6) == 0
    error_message = "only the listed network may reach SSH"
  }
  assert {
    condition     = output.names.volume == "snapkeep-backups" && output.names.instance == "snapkeep-target"
    error_message = "resource names follow the name prefix"
  }
  assert {
    condition     = output.bucket_name == "" && output.restic_repository == ""
    error_message = "no bucket unless asked for"
  }
  assert {
    condition     = endswith(output.filter_script_path, "/share/snapkeep-target-filter.sh") && fileexists(output.filter_script_path)
    error_message = "the filter defaults to the repository's share/snapkeep-target-filter.sh"
  }
  assert {
    condition     = output.tags["snapkeep:target"] == "snapkeep"
    error_message = "every resource is tagged with its target"
  }
}

run "anywhere_only_when_asked" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs       = []
    allow_ssh_from_anywhere = true
  }
  assert {
    condition     = output.ssh_cidrs_ipv4 == tolist(["0.0.0.0/0"]) && output.ssh_cidrs_ipv6 == tolist(["::/0"])
    error_message = "allow_ssh_from_anywhere opens IPv4 and IPv6"
  }
}

run "ipv4_and_ipv6_networks" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = ["203.0.113.0/24", "2001:db8::/48", "198.51.100.9/32"]
  }
  assert {
    condition     = output.ssh_cidrs_ipv4 == tolist(["203.0.113.0/24", "198.51.100.9/32"]) && output.ssh_cidrs_ipv6 == tolist(["2001:db8::/48"])
    error_message = "networks are split by address family"
  }
}

run "other_key_types_and_comments" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key       = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC4I8q2jM7XLMG3Tbwmu+b18Q90lKMGu3Xd6UbGoA0i0XQjqeopKKVDFYQoBRhprpyB79HHX3ZUOhdsQLiaknxH1sLkm+KWmcfuQdMidsNroq69RNM5GIUqlls+wKBIYGWPbxA4/nE7hQjTmay/Z/QkKeoc1qxzjnE8ogBjq9Nn6eguvWld+zk0lf4PfwtXT/6AnVlIk9YrWYB0H3noFneOKNt1htpnw2dvaCzYoYMvx1QkV9TBHRDmWBaAxhwEh5S5Krr0xpYqzNRThkfqxrtyPoKa9EiHIBTcx5D6Byl87F/oTBnbNiIYg9nPo/616ucNAk4A1PvUzfNEZSuk6dpR me@example.com\n"
    admin_ssh_public_key = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAH89xYN1b/cpFW1adrQ2lDfluSaHnzovsK4v9huVx0ZOIyvbiQCLYVPhyqOuOmO7uSGY8sOdvpbjRjnmH8wUFwWXwAHIl+cksgSW/EzQdYZnz1OC+CA9OCfKpboP5Ug8n9hsJnmO5eKpz4Y+2dkWUjiC80FU5ZvRPAjsQBf4/OHfgzWiA== admin"
  }
  assert {
    condition     = startswith(output.admin_ssh_public_key, "ecdsa-sha2-nistp521 ")
    error_message = "an admin key different from snapkeep's is accepted"
  }
}

run "ecdsa_key" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIeyDAMKltCo/UKe9IxXo2DhTm86D1y8K8nGpEX0icW5XTRagi52vzyKT+280d2Y5B02ErElc8A6M3pIYhzADrw="
  }
}

run "offsite_bucket" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    create_offsite_bucket   = true
    bucket_name             = "snapkeep-offsite-test"
    noncurrent_version_days = 30
  }
  assert {
    condition     = output.restic_repository == "s3:https://s3.eu-central-1.amazonaws.com/snapkeep-offsite-test/restic"
    error_message = "restic repository URL in the bucket's region"
  }
  # The backup identity: DeleteObject only on locks/, nothing that destroys versions or
  # changes the bucket.
  assert {
    condition = alltrue([
      for s in jsondecode(output.backup_policy).Statement : s.Effect == "Deny" || alltrue([
        for action in flatten([s.Action]) : action != "s3:DeleteObject" || flatten([s.Resource]) == ["arn:aws:s3:::snapkeep-offsite-test/restic/locks/*"]
      ])
    ])
    error_message = "the backup identity may delete only restic's lock files"
  }
  assert {
    condition = alltrue([
      for policy in [output.backup_policy, output.admin_policy] : alltrue([
        for s in jsondecode(policy).Statement : s.Effect == "Deny" || alltrue([
          for action in flatten([s.Action]) : !contains(["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:*"], action) && !startswith(action, "s3:PutBucket") && !startswith(action, "s3:PutObjectRetention") && !startswith(action, "s3:PutLifecycle")
        ])
      ])
    ])
    error_message = "neither identity may destroy versions, bypass the lock or change the bucket"
  }
  assert {
    condition = alltrue([
      for policy in [output.backup_policy, output.admin_policy] : anytrue([
        for s in jsondecode(policy).Statement : s.Effect == "Deny" && contains(s.Action, "s3:DeleteObjectVersion") && contains(s.Action, "s3:BypassGovernanceRetention")
      ])
    ])
    error_message = "both identities carry an explicit deny for version deletion and lock bypass"
  }
  assert {
    condition     = jsondecode(output.bucket_policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "the bucket refuses plain HTTP"
  }
}

# --- refused inputs -----------------------------------------------------------------------------

run "nobody_could_connect" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = []
  }
  expect_failures = [output.ssh_cidrs]
}

run "open_world_through_the_list" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.allowed_ssh_cidrs]
}

run "open_world_ipv6_through_the_list" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = ["::/0"]
  }
  expect_failures = [var.allowed_ssh_cidrs]
}

run "cidr_with_host_bits" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = ["203.0.113.7/24"]
  }
  expect_failures = [var.allowed_ssh_cidrs]
}

run "address_without_prefix" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    allowed_ssh_cidrs = ["203.0.113.7"]
  }
  expect_failures = [var.allowed_ssh_cidrs]
}

run "placeholder_key_dots" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ssh-rsa AAAA..."
  }
  expect_failures = [var.ssh_public_key]
}

run "placeholder_key_replace_me" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "REPLACE_ME"
  }
  expect_failures = [var.ssh_public_key]
}

run "made_up_key_of_the_old_example" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyDataHere btrbk-backup"
  }
  expect_failures = [var.ssh_public_key]
}

run "truncated_key" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRx test"
  }
  expect_failures = [var.ssh_public_key]
}

run "weak_rsa_key" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDJ8eIhOIzvMxRdJetJAIAKWtyvYdnKYacR1Otb4wE0mrjcGF8DbtP/hwNGAw1m2YtiUrLr60NPx5Ii+WLUXGJ5A3rCTpid+P3kcwcL8JlejLod0YjNXcxfS+IhUue5uqj16iqdBakKXfDyrF0nhg4K0lOAKT0UmiXBJ3vlD1pwsQ== test"
  }
  expect_failures = [var.ssh_public_key]
}

run "private_key_pasted" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "-----BEGIN OPENSSH PRIVATE KEY-----"
  }
  expect_failures = [var.ssh_public_key]
}

run "key_with_a_second_line" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr a\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzCK3YW7wURB1kedayksLNBiChfeY8G26BFZXtSsbF2 b"
  }
  expect_failures = [var.ssh_public_key]
}

run "admin_key_is_snapkeeps_key" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    admin_ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr other-comment"
  }
  expect_failures = [output.admin_ssh_public_key]
}

run "region_without_number" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    region = "eu-central"
  }
  expect_failures = [var.region]
}

run "region_in_another_partition" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    region = "cn-north-1"
  }
  expect_failures = [var.region]
}

run "name_with_capitals" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    name = "Snapkeep"
  }
  expect_failures = [var.name]
}

run "instance_type_with_space" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    instance_type = "t4g nano"
  }
  expect_failures = [var.instance_type]
}

run "volume_of_zero" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    volume_size_gb = 0
  }
  expect_failures = [var.volume_size_gb]
}

run "volume_fraction" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    volume_size_gb = 10.5
  }
  expect_failures = [var.volume_size_gb]
}

run "volume_above_gp3_maximum" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    volume_size_gb = 16385
  }
  expect_failures = [var.volume_size_gb]
}

run "backup_user_root" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    backup_user = "root"
  }
  expect_failures = [var.backup_user]
}

run "backup_user_admin" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    backup_user = "admin"
  }
  expect_failures = [var.backup_user]
}

run "backup_user_not_posix" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    backup_user = "snap keep"
  }
  expect_failures = [var.backup_user]
}

run "mount_point_root" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "/"
  }
  expect_failures = [var.mount_point]
}

run "mount_point_under_etc" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "/etc/snapkeep"
  }
  expect_failures = [var.mount_point]
}

run "mount_point_with_dot_dot" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "/srv/../etc"
  }
  expect_failures = [var.mount_point]
}

run "mount_point_relative" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "srv/snapkeep"
  }
  expect_failures = [var.mount_point]
}

run "mount_point_with_space" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "/srv/snap keep"
  }
  expect_failures = [var.mount_point]
}

run "mount_point_trailing_slash" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    mount_point = "/srv/snapkeep/"
  }
  expect_failures = [var.mount_point]
}

run "bucket_without_name" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    create_offsite_bucket = true
  }
  expect_failures = [output.bucket_name]
}

run "bucket_name_without_bucket" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    bucket_name = "snapkeep-offsite-test"
  }
  expect_failures = [output.bucket_name]
}

run "bucket_name_with_dots" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    create_offsite_bucket = true
    bucket_name           = "snapkeep.offsite"
  }
  expect_failures = [var.bucket_name]
}

run "bucket_name_with_capitals" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    create_offsite_bucket = true
    bucket_name           = "Snapkeep-Offsite"
  }
  expect_failures = [var.bucket_name]
}

run "bucket_prefix_with_slash" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    bucket_prefix = "a/b"
  }
  expect_failures = [var.bucket_prefix]
}

run "object_lock_of_zero_days" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    object_lock_days = 0
  }
  expect_failures = [var.object_lock_days]
}

run "object_lock_mode_lower_case" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    object_lock_mode = "governance"
  }
  expect_failures = [var.object_lock_mode]
}

run "versions_removed_while_locked" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    create_offsite_bucket   = true
    bucket_name             = "snapkeep-offsite-test"
    object_lock_days        = 30
    noncurrent_version_days = 10
  }
  expect_failures = [output.bucket_name]
}

run "noncurrent_days_negative" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    noncurrent_version_days = -1
  }
  expect_failures = [var.noncurrent_version_days]
}

run "ami_malformed" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    ami = "ami-123"
  }
  expect_failures = [var.ami]
}

run "zone_malformed" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    availability_zone = "eu-central-1"
  }
  expect_failures = [var.availability_zone]
}

run "zone_of_another_region" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    availability_zone = "us-east-1a"
  }
  expect_failures = [output.availability_zone]
}

run "zone_and_subnet" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    availability_zone = "eu-central-1a"
    subnet_id         = "subnet-0123456789abcdef0"
  }
  expect_failures = [output.availability_zone]
}

run "subnet_malformed" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    subnet_id = "sub-1"
  }
  expect_failures = [var.subnet_id]
}

run "filter_path_relative" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    target_filter_path = "share/snapkeep-target-filter.sh"
  }
  expect_failures = [var.target_filter_path]
}

run "filter_path_missing" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    target_filter_path = "/nonexistent/snapkeep-target-filter.sh"
  }
  expect_failures = [var.target_filter_path]
}

run "tag_in_aws_namespace" {
  command = plan
  module {
    source = "./modules/settings"
  }
  variables {
    tags = { "aws:owner" = "me" }
  }
  expect_failures = [var.tags]
}
