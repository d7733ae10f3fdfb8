# The instance's first-boot script (cloud-init user data), rendered without a provider so tests
# can render the real template offline. The sudoers rule and the authorized_keys line are the
# HCL twins of sudoersRule and authorizedKeysLine in src/remote/remote-setup.ts; an integration
# test renders both and compares them byte for byte.

terraform {
  required_version = ">= 1.6.0"
}

locals {
  filter_path = "/usr/local/bin/snapkeep-target-filter"

  # A backup target is never a pull-mode source: --no-snapshot. Restores need send.
  filter_command = join(" ", concat(
    [local.filter_path, "--root", var.backup_root],
    var.append_only ? ["--no-delete"] : [],
    ["--no-snapshot"],
  ))
  # `restrict` turns off forwarding, pty, X11 and user rc; the filter is the only command.
  authorized_keys = "command=\"${local.filter_command}\",restrict ${trimspace(var.ssh_public_key)}"

  # sudoersRule({ user, roots: [backup_root], noDelete: append_only, noSnapshot: true }), with
  # sudoersPathPatterns: arguments are POSIX regular expressions, a root followed only by path
  # components that are not . or .. (built so, ERE has no lookahead).
  name_character = "[-A-Za-z0-9_:@+=,.]"
  component      = "([-A-Za-z0-9_:@+=,]|[.][-A-Za-z0-9_:@+=,]|[.][.]${local.name_character})${local.name_character}*"
  root_pattern   = replace(var.backup_root, "/[.+]/", "[$0]")
  path_pattern   = "${local.root_pattern}(/${local.component})*"
  below_pattern  = "${local.root_pattern}(/${local.component})+"
  sudo_commands = concat(
    [
      "/usr/bin/btrfs ^subvolume list -a -u -q -R -c -g ${local.path_pattern}$",
      "/usr/bin/btrfs ^subvolume list -r ${local.path_pattern}$",
      "/usr/bin/btrfs ^subvolume show ${local.path_pattern}$",
      "/usr/bin/btrfs ^filesystem usage -b ${local.path_pattern}$",
      "/usr/bin/btrfs ^receive ${local.path_pattern}$",
      "/usr/bin/mkdir ^-p -- ${local.path_pattern}$",
    ],
    var.append_only ? [] : ["/usr/bin/btrfs ^subvolume delete -c ${local.below_pattern}( ${local.below_pattern})*$"],
    ["/usr/bin/btrfs ^send -q (-p ${local.path_pattern} )?${local.path_pattern}$"],
  )
  sudo_alias = "SNAPKEEP_TARGET_${replace(upper(var.backup_user), "/[^A-Z0-9]/", "_")}"
  sudoers = join("\n", [
    "# snapkeep: the commands its target filter runs as root for ${var.backup_user}, and nothing else.",
    "# Arguments are regular expressions (sudo 1.9.10 or later): no path outside the roots.",
    "Cmnd_Alias ${local.sudo_alias} = ${join(", \\\n    ", local.sudo_commands)}",
    "Defaults!${local.sudo_alias} !requiretty",
    "${var.backup_user} ALL=(root) NOPASSWD: ${local.sudo_alias}",
    "",
  ])
  # sudoersFileName: sudo skips files in sudoers.d whose names contain a dot.
  sudoers_file = "snapkeep-${replace(var.backup_user, ".", "_")}"

  content = templatefile("${path.module}/user-data.sh.tftpl", {
    volume_id       = var.volume_id
    device_name     = var.device_name
    mount_point     = var.mount_point
    backup_root     = var.backup_root
    backup_user     = var.backup_user
    fs_label        = var.fs_label
    filter_path     = local.filter_path
    filter_script   = var.filter_script
    sudoers_file    = local.sudoers_file
    sudoers         = local.sudoers
    authorized_keys = local.authorized_keys
    # zstd: the filter's compressed transfers; unattended-upgrades: security updates on a host
    # that faces the internet with nobody logged in.
    packages = "btrfs-progs sudo zstd unattended-upgrades"
  })
}
