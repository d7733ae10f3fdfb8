# The boot script's rendered parts, offline (modules/user-data has no provider). The script itself
# runs against a loop device in test/integration/infra-user-data.test.ts.

variables {
  volume_id      = "vol-0123456789abcdef0"
  backup_user    = "snapkeep"
  mount_point    = "/srv/snapkeep"
  backup_root    = "/srv/snapkeep/backups"
  fs_label       = "snapkeep-backups"
  ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr test"
  filter_script  = file("../../share/snapkeep-target-filter.sh")
}

run "pruning_target" {
  command = plan
  module {
    source = "./modules/user-data"
  }
  assert {
    condition     = output.filter_command == "/usr/local/bin/snapkeep-target-filter --root /srv/snapkeep/backups --no-snapshot"
    error_message = "the key is forced into the filter, rooted at the backup directory, without snapshots"
  }
  assert {
    condition     = output.authorized_keys == "command=\"/usr/local/bin/snapkeep-target-filter --root /srv/snapkeep/backups --no-snapshot\",restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr test"
    error_message = "authorized_keys: forced command, restrict, the key"
  }
  assert {
    condition     = strcontains(output.sudoers, "/usr/bin/btrfs ^subvolume delete -c /srv/snapkeep/backups(/") && !strcontains(output.sudoers, "snapshot")
    error_message = "a pruning target may delete under its root and never snapshot"
  }
  assert {
    condition     = output.sudoers_file == "snapkeep-snapkeep"
    error_message = "sudoers file named like sudoersFileName"
  }
  assert {
    condition     = startswith(output.content, "#!/bin/sh\n") && strcontains(output.content, "VOLUME_ID='vol-0123456789abcdef0'\n")
    error_message = "the script carries the volume id"
  }
  assert {
    condition     = strcontains(output.content, file("../../share/snapkeep-target-filter.sh"))
    error_message = "the filter is embedded verbatim"
  }
  assert {
    # EC2 accepts at most 16 KiB of user data; base64 makes 4 characters of 3 bytes.
    condition     = length(base64gzip(output.content)) * 3 / 4 < 16384
    error_message = "the compressed user data fits EC2's 16 KiB limit"
  }
}

run "append_only_target" {
  command = plan
  module {
    source = "./modules/user-data"
  }
  variables {
    append_only = true
  }
  assert {
    condition     = output.filter_command == "/usr/local/bin/snapkeep-target-filter --root /srv/snapkeep/backups --no-delete --no-snapshot"
    error_message = "append_only adds --no-delete"
  }
  assert {
    condition     = !strcontains(output.sudoers, "delete")
    error_message = "append_only leaves delete out of sudoers"
  }
}

run "volume_id_malformed" {
  command = plan
  module {
    source = "./modules/user-data"
  }
  variables {
    volume_id = "vol-xyz"
  }
  expect_failures = [var.volume_id]
}

run "filter_without_final_newline" {
  command = plan
  module {
    source = "./modules/user-data"
  }
  variables {
    filter_script = "#!/bin/sh\nexit 0"
  }
  expect_failures = [var.filter_script]
}

run "filter_with_the_heredoc_end" {
  command = plan
  module {
    source = "./modules/user-data"
  }
  variables {
    filter_script = "#!/bin/sh\nSNAPKEEP_END_OF_FILTER\nrm -rf /\n"
  }
  expect_failures = [var.filter_script]
}
