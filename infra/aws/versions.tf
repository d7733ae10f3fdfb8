# Plain HCL that both OpenTofu (tofu) and Terraform run: no features newer than what both
# have had since their 1.6 releases.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x for aws_vpc_security_group_*_rule and aws_eip.domain; 6.x keeps both.
      version = ">= 5.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = module.settings.tags
  }
}
