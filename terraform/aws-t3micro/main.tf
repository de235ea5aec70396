# One siesta broker on a free-tier t3.micro, its log in a SQLite file on the
# encrypted root volume. systemd holds the Kafka port (siesta.socket), starts
# siesta on the first connection and lets it exit when idle.

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

# Debian 12, because the units are tested in CI with Debian 12's systemd
# (252), the same package this image boots with.
data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"] # Debian

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  # One copy of the units, in infra/systemd; user data installs them as is.
  units_dir = "${path.module}/../../infra/systemd"

  public_host = (var.elastic_ip
    ? aws_eip.this[0].public_dns
    : coalesce(aws_instance.this.public_dns, aws_instance.this.public_ip)
  )
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "siesta: Kafka port from allowed_cidrs"
  vpc_id      = data.aws_vpc.default.id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "kafka" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.this.id
  description       = "Kafka clients"
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = toset(var.ssh_cidrs)

  security_group_id = aws_security_group.this.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

# Out to the release URL at first boot, and to S3 if SIESTA_STORAGE is
# switched to a bucket.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.this.id
  description       = "Outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_instance" "this" {
  ami                         = coalesce(var.ami_id, data.aws_ami.debian.id)
  instance_type               = var.instance_type
  subnet_id                   = coalesce(var.subnet_id, sort(data.aws_subnets.default.ids)[0])
  vpc_security_group_ids      = [aws_security_group.this.id]
  key_name                    = var.ssh_key_name
  associate_public_ip_address = true

  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    release_url  = var.siesta_release_url
    sha256       = var.siesta_sha256
    kafka_port   = var.kafka_port
    idle_timeout = var.idle_timeout
    socket_unit  = file("${local.units_dir}/siesta.socket")
    service_unit = file("${local.units_dir}/siesta.service")
  })

  root_block_device {
    volume_type = "gp3"
    volume_size = var.volume_size
    encrypted   = true
  }

  # IMDSv2 only: the boot script asks for a session token.
  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tags = {
    Name = var.name
  }

  lifecycle {
    # The SQLite file lives on the root volume: a newer image must not
    # replace the instance. User data runs once, at first boot; a change
    # would only stop and start the instance.
    ignore_changes = [ami, subnet_id, user_data]
  }
}

resource "aws_eip" "this" {
  count = var.elastic_ip ? 1 : 0

  domain   = "vpc"
  instance = aws_instance.this.id
}
