"""Which addresses a webhook may go to: public ones only, however an internal one is spelled."""

import ipaddress

import pytest

from webhooks import addresses


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # AWS, GCP, Azure metadata
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a private address"),  # AWS metadata over IPv6
        ("100.100.100.200", "not a public address"),  # Alibaba metadata (shared space)
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "a link-local address"),  # NAT64 of 169.254.169.254
        ("2002:0a00:0001::1", "a private address"),  # 6to4 of 10.0.0.1
    ],
)
def test_internal_addresses_are_refused_with_what_they_are(address, kind):
    assert addresses.refusal(ipaddress.ip_address(address)).startswith(kind)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert addresses.refusal(ipaddress.ip_address(address)) is None


def test_the_target_keeps_the_name_for_the_host_header_and_connects_to_the_address(settings):
    target = addresses.resolve("https://93.184.215.14:8443/a/b?c=d#fragment")
    assert (target.scheme, target.address, target.port) == ("https", "93.184.215.14", 8443)
    assert target.path == "/a/b?c=d" and target.host_header == "93.184.215.14:8443"
    assert addresses.resolve("http://[2606:4700:4700::1111]/").host_header == (
        "[2606:4700:4700::1111]"
    )


def test_a_name_is_refused_if_any_address_it_resolves_to_is_internal(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(addresses.URLRefused, match="localhost resolves to .*a loopback address"):
        addresses.resolve("http://localhost/hooks")


def test_the_development_setting_allows_internal_addresses(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    assert addresses.resolve("http://localhost:9000/hooks").address in ("127.0.0.1", "::1")
