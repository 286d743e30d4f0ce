"""Certificates for a PostgreSQL cluster over TLS, made with the ``cryptography`` library (adr/0095).

One private certificate authority per cluster, a server certificate per
member whose subject alternative names are the addresses clients use, and a
client certificate for the replication role (its common name is the role, which
``pg_hba``'s ``cert`` method checks). Each key and its certificate are kept
together in one entry of the secret store (0600), so a rotation replaces both at
once; a key is only ever a :class:`~harmony_py.values.Secret`.

:class:`ClusterAuthority` is what every engine calls: ``certificates(names)``
gives one member everything it needs as a :class:`~capabilities.postgresql.PgCertificates`,
issued once and reused until it expires within the rotation window, its names
change, or the authority that signed it is no longer the cluster's.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capabilities.postgresql import PgCertificates, PgConfig
from harmony_py.values import Secret
from topologies.secret_store import SecretStore

# cryptography is imported by the functions that make or read certificates: loading it costs
# more than the rest of a localhost plan, and a host topology imports this module (adr/0106).
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

AUTHORITY_DAYS = 3650
LEAF_DAYS = 365
DEFAULT_ROTATE_BEFORE = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(minutes=5)
"""Certificates start a little in the past: a member whose clock is slightly behind still accepts them."""


@dataclass(frozen=True)
class Issued:
    """A certificate (public, PEM) and its private key (PEM, secret)."""

    certificate: str
    key: Secret

    def stored(self) -> str:
        """The store entry: the key, then the certificate."""
        return self.key.reveal().rstrip("\n") + "\n" + self.certificate

    @classmethod
    def from_stored(cls, text: str) -> Issued:
        marker = "-----BEGIN CERTIFICATE-----"
        key, _, certificate = text.partition(marker)
        return cls(marker + certificate.rstrip("\n") + "\n", Secret(key.strip() + "\n"))

    @property
    def x509(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.certificate.encode())


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    # P-256: accepted by every OpenSSL PostgreSQL links against, and made in microseconds.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> Secret:
    from cryptography.hazmat.primitives import serialization

    return Secret(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def new_authority(cluster: str, *, days: int = AUTHORITY_DAYS) -> Issued:
    """A self-signed certificate authority for ``cluster``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"harmony_py {cluster} CA")])
    start = now() - _BACKDATE
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def issue(
    authority: Issued,
    common_name: str,
    *,
    names: tuple[str, ...] = (),
    client: bool,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> Issued:
    """A certificate signed by ``authority``: a client's (``common_name`` is the role) or a server's (SANs ``names``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _new_key()
    signer = serialization.load_pem_private_key(authority.key.reveal().encode(), password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)  # we made it
    start = not_before if not_before is not None else now() - _BACKDATE
    end = not_after if not_after is not None else start + datetime.timedelta(days=LEAF_DAYS)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(authority.x509.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    certificate = builder.sign(signer, hashes.SHA256())
    return Issued(certificate.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _general_name(name: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def names_of(certificate: x509.Certificate) -> tuple[str, ...]:
    """The subject alternative names of a certificate, as text."""
    from cryptography import x509

    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(value) for value in (*sans.get_values_for_type(x509.IPAddress), *sans.get_values_for_type(x509.DNSName)))


def signed_by(certificate: x509.Certificate, authority: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, Exception):  # noqa: BLE001 - any failure means "not by this authority"
        return False
    return True


def why_reissue(
    issued: Issued, authority: Issued, names: tuple[str, ...], rotate_before: datetime.timedelta | None
) -> str | None:
    """Why a stored certificate must be replaced (expiring, other names, another authority), else None."""
    certificate = issued.x509
    if not signed_by(certificate, authority.x509):
        return "not signed by the cluster's authority"
    if names and set(names_of(certificate)) != set(names):
        return f"its names are {', '.join(names_of(certificate))}, not {', '.join(names)}"
    expires = certificate.not_valid_after_utc
    if expires <= now():
        return f"it expired on {expires:%Y-%m-%d}"
    if rotate_before is not None and expires - now() <= rotate_before:
        return f"it expires on {expires:%Y-%m-%d}, within {rotate_before.days} days"
    return None


def tls_enabled(config: PgConfig) -> bool:
    """Whether the server of ``config`` (as its host runs it) uses TLS: ``tls`` when the score sets it,
    else whenever it listens beyond loopback (adr/0100).

    A replicated cluster decides once for all its members (:func:`cluster_tls`) and hands each the
    answer as an explicit ``tls``, so that no member runs TLS while another does not.
    """
    if config.tls is not None:
        return config.tls
    return any(beyond_loopback(address) for address in config.listen_addresses)


def beyond_loopback(address: str) -> bool:
    """Whether a listen or reach address can be reached from another machine ('*', 0.0.0.0, a name, a routable IP)."""
    if address == "localhost":
        return False
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True  # "*" or a host name


def cluster_tls(config: PgConfig, addresses: tuple[str, ...]) -> PgConfig:
    """``config`` with ``tls`` decided once for a cluster whose members are reached at ``addresses`` (``host:port``).

    An explicit ``tls`` is kept; unset, it is on when the score listens beyond loopback or any member is
    reached beyond loopback (a host's own listen addresses make its reach address): replicas and clients
    then cross a network. Each member gets the same answer (adr/0100).
    """
    if config.tls is not None:
        return config
    hosts = [address.rsplit(":", 1)[0].strip("[]") for address in addresses]
    return dataclasses.replace(config, tls=tls_enabled(config) or any(beyond_loopback(host) for host in hosts))


class ClusterAuthority:
    """The certificates of one cluster, kept in the secret store under ``postgresql/<cluster>/tls/``."""

    def __init__(self, store: SecretStore, config: PgConfig) -> None:
        self.store = store
        self.config = config
        self.rotations: list[str] = []
        """What :meth:`certificates` replaced (or, in a plan view, would replace), and why."""

    def _key(self, name: str) -> str:
        return f"postgresql/{self.config.name}/tls/{name}"

    def authority(self) -> Issued:
        stored = self.store.get_or_create(self._key("ca"), lambda: new_authority(self.config.name).stored())
        found = Issued.from_stored(stored.reveal())
        if found.x509.not_valid_after_utc - now() <= (self.config.tls_rotate_before or datetime.timedelta(0)):
            # A new authority invalidates every certificate it signed: they are all re-issued below.
            self.rotations.append("certificate authority: it expires soon")
            found = Issued.from_stored(self.store.replace(self._key("ca"), new_authority(self.config.name).stored()).reveal())
        return found

    def _leaf(self, entry: str, what: str, common_name: str, names: tuple[str, ...], *, client: bool) -> Issued:
        authority = self.authority()
        stored = self.store.get_or_create(
            self._key(entry), lambda: issue(authority, common_name, names=names, client=client).stored()
        )
        found = Issued.from_stored(stored.reveal())
        reason = why_reissue(found, authority, names, self.config.tls_rotate_before)
        if reason is None:
            return found
        self.rotations.append(f"{what}: {reason}")
        fresh = issue(authority, common_name, names=names, client=client)
        return Issued.from_stored(self.store.replace(self._key(entry), fresh.stored()).reveal())

    def server(self, member: str, names: tuple[str, ...]) -> Issued:
        """The server certificate of ``member`` (``host-port``), valid for ``names``."""
        return self._leaf(f"server-{member}", f"server certificate of {member}", names[0], names, client=False)

    def client(self, role: str) -> Issued:
        """The client certificate of ``role`` (the replication role)."""
        return self._leaf(f"client-{role}", f"client certificate of {role}", role, (), client=True)

    def certificates(self, member: str, names: tuple[str, ...]) -> PgCertificates:
        """Everything member ``member`` needs: the authority, its server certificate, the replication client's."""
        server = self.server(member, names)
        client = self.client(self.config.replication_user)
        return PgCertificates(self.authority().certificate, server.certificate, server.key, client.certificate, client.key)
