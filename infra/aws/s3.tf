# Optional (create_offsite_bucket = true): an S3 bucket for restic offsite copies that a stolen
# backup credential cannot empty. Versioning keeps every overwritten or deleted object as a
# version, Object Lock keeps each version for object_lock_days, and the backup identity may
# delete nothing but restic's lock files. forget/prune run with the separate admin identity.
#
# Access keys are not created here, so no secret lands in the state file: create them with
#   aws iam create-access-key --user-name <backup_iam_user output>

locals {
  bucket = module.settings.bucket_name != "" ? 1 : 0
}

resource "aws_s3_bucket" "offsite" {
  count  = local.bucket
  bucket = module.settings.bucket_name
  # Object Lock can only be switched on when the bucket is created.
  object_lock_enabled = true
  # Never: a non-empty bucket must be emptied on purpose before `destroy` can remove it.
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "offsite" {
  count  = local.bucket
  bucket = aws_s3_bucket.offsite[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "offsite" {
  count  = local.bucket
  bucket = aws_s3_bucket.offsite[0].id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.offsite]
}

resource "aws_s3_bucket_public_access_block" "offsite" {
  count                   = local.bucket
  bucket                  = aws_s3_bucket.offsite[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "offsite" {
  count  = local.bucket
  bucket = aws_s3_bucket.offsite[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "offsite" {
  count  = local.bucket
  bucket = aws_s3_bucket.offsite[0].id
  rule {
    # SSE-S3: encrypted at rest at no cost and with no KMS permissions to hand out. restic
    # encrypts the contents anyway.
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "offsite" {
  count  = local.bucket
  bucket = aws_s3_bucket.offsite[0].id
  policy = module.settings.bucket_policy
  # The public access block must exist first, or S3 may judge the policy before it applies.
  depends_on = [aws_s3_bucket_public_access_block.offsite]
}

# Removes only versions restic already deleted (noncurrent), and only when asked. Current
# objects never expire: restic packs are shared between snapshots, age says nothing.
resource "aws_s3_bucket_lifecycle_configuration" "offsite" {
  count  = local.bucket == 1 && var.noncurrent_version_days > 0 ? 1 : 0
  bucket = aws_s3_bucket.offsite[0].id
  rule {
    id     = "remove-deleted-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.offsite]
}

resource "aws_iam_user" "backup" {
  count = local.bucket
  name  = module.settings.names.backup_iam_user
  path  = "/snapkeep/"
  # Access keys made outside this module would otherwise block `destroy`.
  force_destroy = true
}

resource "aws_iam_user_policy" "backup" {
  count  = local.bucket
  name   = "restic-backup"
  user   = aws_iam_user.backup[0].name
  policy = module.settings.backup_policy
}

resource "aws_iam_user" "admin" {
  count         = local.bucket
  name          = module.settings.names.admin_iam_user
  path          = "/snapkeep/"
  force_destroy = true
}

resource "aws_iam_user_policy" "admin" {
  count  = local.bucket
  name   = "restic-admin"
  user   = aws_iam_user.admin[0].name
  policy = module.settings.admin_policy
}
