#!/bin/sh
# Trial only: makes the throwaway keys `docker compose up` needs, once, into the `certs` volume:
#   nginx-cert.pem / nginx-key.pem          TLS for https://localhost:8443 (self-signed)
#   simulator-cert.pem / simulator-key.pem  TLS of the Tencent Cloud simulator; the gateway trusts
#                                           it through NODE_EXTRA_CA_CERTS, never by turning checks off
#   idp-private.pem / idp-public.pem        the trial sign-in's ES256 key pair; the gateway
#                                           verifies tokens with the public half (AUTH_PUBLIC_KEY_FILE)
# A real deployment uses its own certificates and its company IdP instead.
set -eu
dir="${1:-/certs}"
if [ -s "$dir/idp-public.pem" ]; then echo "trial keys already in $dir"; exit 0; fi
command -v openssl >/dev/null 2>&1 || apk add --no-cache openssl >/dev/null
mkdir -p "$dir"
cert() { # name, CN, subjectAltName
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout "$dir/$1-key.pem" -out "$dir/$1-cert.pem" -subj "/CN=$2" -addext "subjectAltName=$3" 2>/dev/null
}
cert nginx localhost 'DNS:localhost,IP:127.0.0.1'
cert simulator simulator 'DNS:simulator'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/idp-private.pem"
openssl pkey -in "$dir/idp-private.pem" -pubout -out "$dir/idp-public.pem"
# The gateway, simulator and sign-in run as uid 1000 (the image's `node` user); nginx's master runs as root.
chown 1000:1000 "$dir"/*.pem
chmod 0600 "$dir"/*-key.pem "$dir/idp-private.pem"
chmod 0644 "$dir"/*-cert.pem "$dir/idp-public.pem"
echo "trial keys written to $dir"
