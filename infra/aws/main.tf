# snapkeep's backup target on AWS: one small Debian 12 instance, an encrypted gp3 volume that
# holds the backups (btrfs), SSH open only to the networks you name, and optionally an S3 bucket
# for restic offsite copies (s3.tf). The volume is the thing that matters: the instance can be
# replaced at any time (a changed boot script does exactly that) and finds the backups again.

module "settings" {
  source = "./modules/settings"

  region                  = var.region
  name                    = var.name
  instance_type           = var.instance_type
  volume_size_gb          = var.volume_size_gb
  ssh_public_key          = var.ssh_public_key
  allowed_ssh_cidrs       = var.allowed_ssh_cidrs
  allow_ssh_from_anywhere = var.allow_ssh_from_anywhere
  backup_user             = var.backup_user
  mount_point             = var.mount_point
  create_offsite_bucket   = var.create_offsite_bucket
  bucket_name             = var.bucket_name
  bucket_prefix           = var.bucket_prefix
  object_lock_days        = var.object_lock_days
  object_lock_mode        = var.object_lock_mode
  noncurrent_version_days = var.noncurrent_version_days
  append_only             = var.append_only
  admin_ssh_public_key    = var.admin_ssh_public_key
  ami                     = var.ami
  availability_zone       = var.availability_zone
  subnet_id               = var.subnet_id
  target_filter_path      = var.target_filter_path
  tags                    = var.tags
}

# --- where: architecture, image, zone ---------------------------------------------------------

data "aws_ec2_instance_type" "selected" {
  instance_type = var.instance_type
}

data "aws_ec2_instance_type_offerings" "zones" {
  location_type = "availability-zone"
  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

data "aws_subnet" "selected" {
  count = var.subnet_id == "" ? 0 : 1
  id    = var.subnet_id
}

locals {
  arm64 = contains(data.aws_ec2_instance_type.selected.supported_architectures, "arm64")
  # The first zone (sorted, so the choice is stable) that offers the instance type.
  zone = (var.subnet_id != "" ? data.aws_subnet.selected[0].availability_zone
    : var.availability_zone != "" ? module.settings.availability_zone
  : sort(data.aws_ec2_instance_type_offerings.zones.locations)[0])
}

# Debian's own AMIs (account 136693411767), the newest Debian 12 build for the architecture.
data "aws_ami" "debian" {
  count       = var.ami == "" ? 1 : 0
  most_recent = true
  owners      = ["136693411767"]
  filter {
    name   = "name"
    values = [local.arm64 ? "debian-12-arm64-*" : "debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = [local.arm64 ? "arm64" : "x86_64"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

# --- network ----------------------------------------------------------------------------------

resource "aws_security_group" "ssh" {
  name_prefix = "${module.settings.names.security_group}-"
  description = "snapkeep backup target: SSH from the allowed networks, HTTP(S) out for apt"
  vpc_id      = var.subnet_id == "" ? null : data.aws_subnet.selected[0].vpc_id
  tags        = { Name = module.settings.names.security_group }

  lifecycle {
    create_before_destroy = true
  }
}

# One rule per network; 0.0.0.0/0 and ::/0 appear only with allow_ssh_from_anywhere = true
# (allowed_ssh_cidrs refuses /0 networks).
resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = toset(module.settings.ssh_cidrs)

  security_group_id = aws_security_group.ssh.id
  description       = "SSH for snapkeep"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

# Out: only HTTP and HTTPS, for Debian's mirrors (DNS, NTP and instance metadata go to
# link-local AWS services that security groups do not filter).
resource "aws_vpc_security_group_egress_rule" "web" {
  for_each = {
    "http-ipv4"  = { port = 80, cidr = "0.0.0.0/0" }
    "https-ipv4" = { port = 443, cidr = "0.0.0.0/0" }
    "http-ipv6"  = { port = 80, cidr = "::/0" }
    "https-ipv6" = { port = 443, cidr = "::/0" }
  }

  security_group_id = aws_security_group.ssh.id
  description       = "package downloads"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

# Only for the image's admin account (full sudo), and only when asked: installing snapkeep's own
# key here would let it log in as admin and walk around the filter.
resource "aws_key_pair" "admin" {
  count      = module.settings.admin_ssh_public_key == "" ? 0 : 1
  key_name   = module.settings.names.key_pair
  public_key = module.settings.admin_ssh_public_key
}

# --- the backups ------------------------------------------------------------------------------

resource "aws_ebs_volume" "backups" {
  availability_zone = local.zone
  size              = var.volume_size_gb
  type              = "gp3"
  encrypted         = true
  tags              = { Name = module.settings.names.volume }

  lifecycle {
    # The zone is read once. If the zone choice changes later (another zone offers the type
    # first, a new subnet), a new zone must never mean a new, empty volume: the instance
    # follows the volume instead (aws_instance.target.availability_zone).
    ignore_changes = [availability_zone]
  }
}

module "user_data" {
  source = "./modules/user-data"

  volume_id      = aws_ebs_volume.backups.id
  device_name    = "/dev/sdh"
  backup_user    = var.backup_user
  mount_point    = var.mount_point
  backup_root    = module.settings.backup_root
  fs_label       = module.settings.fs_label
  ssh_public_key = var.ssh_public_key
  append_only    = var.append_only
  filter_script  = file(module.settings.filter_script_path)
}

resource "aws_instance" "target" {
  ami           = var.ami != "" ? var.ami : data.aws_ami.debian[0].id
  instance_type = var.instance_type
  # From the volume, never from another resource (the old configuration took it from the
  # security group, which has no zone): the instance must sit where its volume is.
  availability_zone      = aws_ebs_volume.backups.availability_zone
  subnet_id              = var.subnet_id == "" ? null : var.subnet_id
  vpc_security_group_ids = [aws_security_group.ssh.id]
  key_name               = length(aws_key_pair.admin) > 0 ? aws_key_pair.admin[0].key_name : null
  monitoring             = false

  # gzip: the filter alone is 10 KiB and user data is limited to 16 KiB; cloud-init unpacks it.
  user_data_base64 = base64gzip(module.user_data.content)
  # cloud-init runs user data once per instance, so a changed script needs a new instance. The
  # volume survives (it is a separate resource) and the script keeps what it finds on it.
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    encrypted             = true
    delete_on_termination = true
    # Not volume_tags: those would also rewrite the Name of the attached backup volume.
    tags = { Name = "${module.settings.names.instance}-root" }
  }

  # Burstable types default to "unlimited" credits, which bills extra CPU; a backup target can
  # wait instead.
  dynamic "credit_specification" {
    for_each = can(regex("^t[0-9]", var.instance_type)) ? [1] : []
    content {
      cpu_credits = "standard"
    }
  }

  tags = { Name = module.settings.names.instance }

  lifecycle {
    # A newer Debian build must not replace a running target on the next apply.
    ignore_changes = [ami]
    precondition {
      condition     = var.subnet_id == "" || data.aws_subnet.selected[0].availability_zone == aws_ebs_volume.backups.availability_zone
      error_message = "The subnet is in another availability zone than the backup volume; pick a subnet in the volume's zone."
    }
  }
}

resource "aws_volume_attachment" "backups" {
  device_name = "/dev/sdh"
  volume_id   = aws_ebs_volume.backups.id
  instance_id = aws_instance.target.id
  # Detach only from a stopped instance, so btrfs is unmounted cleanly first.
  stop_instance_before_detaching = true
}

# A fixed address: the target URL and known_hosts entries survive a replaced instance.
resource "aws_eip" "target" {
  domain   = "vpc"
  instance = aws_instance.target.id
  tags     = { Name = module.settings.names.instance }
}
