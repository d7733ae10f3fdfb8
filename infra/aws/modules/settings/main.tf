# Everything the AWS target derives from its inputs, with no provider: names, the SSH networks,
# the backup directory, the IAM policies. Kept provider-free so `terraform test` can check it
# offline (infra/aws/tests/settings.tftest.hcl); the root module only wires it to resources.

terraform {
  required_version = ">= 1.6.0"
}

locals {
  # snapkeep's key may touch only this directory (the filter's --root). It exists only on the
  # mounted volume, so if the volume is missing the filter refuses to start instead of filling
  # the root disk.
  backup_root = "${var.mount_point}/backups"

  ssh_cidrs      = distinct(concat(var.allowed_ssh_cidrs, var.allow_ssh_from_anywhere ? ["0.0.0.0/0", "::/0"] : []))
  ssh_cidrs_ipv4 = tolist([for cidr in local.ssh_cidrs : cidr if !strcontains(cidr, ":")])
  ssh_cidrs_ipv6 = tolist([for cidr in local.ssh_cidrs : cidr if strcontains(cidr, ":")])

  names = {
    instance        = "${var.name}-target"
    volume          = "${var.name}-backups"
    security_group  = "${var.name}-ssh"
    key_pair        = "${var.name}-admin"
    backup_iam_user = "${var.name}-restic-backup"
    admin_iam_user  = "${var.name}-restic-admin"
  }
  fs_label = "${var.name}-backups"
  tags     = merge(var.tags, { "snapkeep:target" = var.name })

  # The bare base64 part of a key line, to compare two keys whatever their comments.
  ssh_key_data   = try(split(" ", trimspace(var.ssh_public_key))[1], "")
  admin_key_data = try(split(" ", trimspace(var.admin_ssh_public_key))[1], "")

  filter_script_path = var.target_filter_path != "" ? var.target_filter_path : abspath("${path.module}/../../../../share/snapkeep-target-filter.sh")

  # --- S3 and IAM (used only with create_offsite_bucket) ----------------------------------------
  bucket_arn         = "arn:aws:s3:::${var.bucket_name}"
  repository_objects = "${local.bucket_arn}/${var.bucket_prefix}/*"
  list_repository = {
    Sid       = "ListTheRepositoryPrefix"
    Effect    = "Allow"
    Action    = ["s3:ListBucket"]
    Resource  = local.bucket_arn
    Condition = { StringLike = { "s3:prefix" = [var.bucket_prefix, "${var.bucket_prefix}/*"] } }
  }
  # GetBucketLocation carries no s3:prefix, so it cannot share the listing statement's condition
  # (it would never match and restic would fall back to guessing the region).
  find_region = {
    Sid      = "FindTheBucketRegion"
    Effect   = "Allow"
    Action   = ["s3:GetBucketLocation"]
    Resource = local.bucket_arn
  }
  # What neither identity may ever do, whatever else is attached to it: the versions and the
  # lock are the protection, so only the account that created the bucket can change them.
  never_destroy_history = {
    Sid    = "NeverDestroyHistoryOrProtection"
    Effect = "Deny"
    Action = [
      "s3:DeleteObjectVersion",
      "s3:PutBucketVersioning",
      "s3:PutBucketObjectLockConfiguration",
      "s3:PutObjectRetention",
      "s3:PutObjectLegalHold",
      "s3:BypassGovernanceRetention",
      "s3:PutLifecycleConfiguration",
      "s3:DeleteBucket",
      "s3:PutBucketPolicy",
    ]
    Resource = [local.bucket_arn, "${local.bucket_arn}/*"]
  }

  # The backup identity: read and write the repository, delete only restic's lock files (restic
  # cannot run without that, FACTS §2). Same grants as docs/aws-backup-policy.json.
  backup_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.list_repository,
      local.find_region,
      {
        Sid      = "ReadAndWriteRepositoryObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = local.repository_objects
      },
      {
        Sid      = "DeleteOnlyLocks"
        Effect   = "Allow"
        Action   = ["s3:DeleteObject"]
        Resource = "${local.bucket_arn}/${var.bucket_prefix}/locks/*"
      },
      local.never_destroy_history,
    ]
  })

  # The admin identity runs restic forget/prune: it may delete any repository object, which in a
  # versioned bucket only adds a delete marker; the locked versions stay until they expire.
  admin_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.list_repository,
      local.find_region,
      {
        Sid      = "ManageRepositoryObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = local.repository_objects
      },
      local.never_destroy_history,
    ]
  })

  bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyPlainHttp"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  restic_repository = var.create_offsite_bucket ? "s3:https://s3.${var.region}.amazonaws.com/${var.bucket_name}/${var.bucket_prefix}" : ""
}
