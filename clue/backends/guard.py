"""The data-use guard: credentialed test sets go only to servers on this machine or a private network.

PhysioNet's credentialed data use agreement does not let its data be sent to online services
(third-party APIs). Four of CLUE's six tasks are built from such data (``TaskInfo.licence``), so
before the kit opens any connection to ``--base-url`` it checks the host: a loopback, private,
link-local or unique-local address (or a name that resolves only to such addresses, e.g. a compose
service) is allowed; anything else is refused for credentialed tasks unless the user passes
``--allow-remote-endpoint``, which acknowledges the policy and is recorded in the run manifest.
Public tasks (MeQSum, LongHealth) may go anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from clue.errors import InputError

POLICY = ("PhysioNet's credentialed data use agreement does not allow sending its data to online services "
          "(see PhysioNet's guidance on the responsible use of its data with online services such as GPT)")


# loopback, RFC 1918 private networks, link-local, IPv6 unique-local; written out because Python's
# ``is_private`` also counts documentation and other reserved ranges, which are not a private network
LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))


def _is_local(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in LOCAL_NETWORKS)


def endpoint_scope(base_url: str) -> str:
    """``"local"`` (loopback or private network) or ``"remote"``; a literal address is never looked up."""
    host = urlsplit(base_url).hostname
    if not host:
        raise InputError(f"--base-url {base_url}: no host in this URL; expected e.g. http://127.0.0.1:8000/v1")
    try:
        return "local" if _is_local(host) else "remote"
    except ValueError:
        pass   # a name, not an address
    if host == "localhost" or host.endswith(".localhost"):
        return "local"
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        raise InputError(f"--base-url {base_url}: the host name {host!r} does not resolve") from None
    return "local" if addresses and all(_is_local(a) for a in addresses) else "remote"


def check_endpoint(base_url: str, tasks, allow_remote: bool = False) -> str:
    """Refuse credentialed ``tasks`` (``TaskInfo`` objects) for a remote ``base_url``; return its scope."""
    scope = endpoint_scope(base_url)
    credentialed = [t.id for t in tasks if t.licence != "public"]
    if scope == "remote" and credentialed and not allow_remote:
        raise InputError(
            f"--base-url {base_url} is not on this machine or a private network, and tasks "
            f"{', '.join(credentialed)} hold PhysioNet credentialed data. {POLICY}. Evaluate them against a "
            "server you run (loopback or private network), choose public tasks only (--tasks meqsum,longhealth), "
            "or pass --allow-remote-endpoint if your agreement permits it (it is recorded in the manifest)")
    return scope
