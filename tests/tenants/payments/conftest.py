"""Fixtures of the payments tests: RSA keys, a tenant with the payments module, and a local
control-number gateway (pytest-httpserver) that checks our signatures and signs its own messages."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Response

from schemehost.tenants.payments.signing import Keys, sign, verify


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="session")
def key_pairs():
    """(ours, the gateway's): each a (private PEM, public PEM) pair."""
    return _pem_pair(), _pem_pair()


SCOPES = ("payments.read", "payments.reconcile", "payments.gateways.manage")
ENVELOPE = re.compile(rb"<Gepg>(?P<content><(?P<tag>[A-Za-z]+)>.*</(?P=tag)>)<gepgSignature>(?P<sig>[^<]*)</gepgSignature></Gepg>", re.S)


@dataclass
class Peer:
    """The local gateway: what it received, how it answers, and messages it signs like the real one."""

    server: object
    ours_public: str
    gateway_private: str
    algorithm: str = "rsa-sha256"
    hmac_secret: str | None = None
    received: list[dict] = field(default_factory=list)
    #: status codes answered to bill submissions, in order (then 7101); "sleep" waits past the timeout
    bill_answers: list[str] = field(default_factory=list)
    control_numbers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    @property
    def keys(self) -> Keys:
        """The gateway's keys: signs with its private key, verifies with ours."""
        return Keys(algorithm=self.algorithm, hmac_secret=self.hmac_secret, private_key=self.gateway_private,
                    gateway_public_key=self.ours_public)

    def signed(self, content: str) -> bytes:
        data = content.encode()
        return b"<Gepg>" + data + b"<gepgSignature>" + sign(self.keys, data).encode() + b"</gepgSignature></Gepg>"

    def _handle(self, request):
        match = ENVELOPE.search(request.get_data())
        assert match is not None, request.get_data()
        ok = verify(self.keys, match.group("content"), match.group("sig").decode())
        content = ET.fromstring(match.group("content"))
        self.received.append({"path": request.path, "tag": content.tag, "content": content, "signature_ok": ok,
                              "headers": dict(request.headers)})
        if not ok:
            return Response(self.signed("<gepgBillSubReqAck><TrxStsCode>7303</TrxStsCode></gepgBillSubReqAck>"),
                            content_type="application/xml")
        if request.path.endswith("/reconciliations"):
            return Response(self.signed("<gepgSpReconcReqAck><ReconcStsCode>7101</ReconcStsCode></gepgSpReconcReqAck>"),
                            content_type="application/xml")
        code = self.bill_answers.pop(0) if self.bill_answers else "7101"
        if code == "sleep":
            time.sleep(1.5)  # past the gateway's 1 s timeout: the caller gives up first
            code = "7101"
        return Response(self.signed(f"<gepgBillSubReqAck><TrxStsCode>{code}</TrxStsCode></gepgBillSubReqAck>"),
                        content_type="application/xml")

    def bills(self) -> list[ET.Element]:
        return [r["content"] for r in self.received if r["tag"] == "gepgBillSubReq"]

    # ---- callbacks the gateway sends -----------------------------------------------------------------

    def control_number(self, bill_ref: str, number: str, code: str = "7101") -> bytes:
        return self.signed(f"<gepgBillSubResp><BillTrxInf><BillId>{bill_ref}</BillId><TrxSts>GS</TrxSts>"
                           f"<PayCntrNum>{number}</PayCntrNum><TrxStsCode>{code}</TrxStsCode></BillTrxInf>"
                           f"</gepgBillSubResp>")

    def payment(self, txn: str, bill_ref: str | None, number: str | None, amount: str, currency: str = "TZS",
                when: str = "2026-12-02T10:15:00") -> bytes:
        return self.signed(
            f"<gepgPmtSpInfo><PymtTrxInf><TrxId>{txn}</TrxId><SpCode>SP100</SpCode><PayRefId>R{txn}</PayRefId>"
            f"<BillId>{bill_ref or ''}</BillId><PayCtrNum>{number or ''}</PayCtrNum><BillAmt>{amount}</BillAmt>"
            f"<PaidAmt>{amount}</PaidAmt><BillPayOpt>3</BillPayOpt><CCy>{currency}</CCy><TrxDtTm>{when}</TrxDtTm>"
            f"<UsdPayChnl>MOBILE</UsdPayChnl><PyrCellNum>255700000001</PyrCellNum><PyrName>Asha Juma</PyrName>"
            f"<PspReceiptNumber>RC{txn}</PspReceiptNumber><PspName>Bank</PspName></PymtTrxInf></gepgPmtSpInfo>")

    def statement(self, request_id: str, rows: list[tuple[str, str | None, str]], currency: str = "TZS") -> bytes:
        trans = "".join(f"<ReconcTrxInf><SpBillId>{b or ''}</SpBillId><BillCtrNum></BillCtrNum><pspTrxId>{t}</pspTrxId>"
                        f"<PaidAmt>{a}</PaidAmt><CCy>{currency}</CCy><TrxDtTm>2026-12-02T11:00:00</TrxDtTm></ReconcTrxInf>"
                        for t, b, a in rows)
        return self.signed(f"<gepgSpReconcResp><ReconcBatchInfo><SpReconcReqId>{request_id}</SpReconcReqId>"
                           f"<SpCode>SP100</SpCode><ReconcStsCode>7101</ReconcStsCode></ReconcBatchInfo>"
                           f"<ReconcTrans>{trans}</ReconcTrans></gepgSpReconcResp>")


@pytest.fixture
def peer(httpserver, key_pairs):
    (ours_private, ours_public), (gw_private, _gw_public) = key_pairs
    p = Peer(server=httpserver, ours_public=ours_public, gateway_private=gw_private)
    httpserver.expect_request(re.compile(r"^/(bills|reconciliations)$"), method="POST").respond_with_handler(p._handle)
    return p


@pytest.fixture
def pay_tenant(make_tenant):
    return make_tenant("cash-transfer", prefix="pay")


def gateway_body(peer: Peer, key_pairs, **over) -> dict:
    (ours_private, _ours_public), (_gw_private, gw_public) = key_pairs
    body = {"name": "Government e-payment gateway", "kind": "control_number", "base_url": peer.url,
            "sp_code": "SP100", "signature": "rsa-sha256", "timeout_s": 1,
            "options": {"timezone": "Africa/Dar_es_Salaam", "bill_prefix": "CT"},
            "secrets": {"private_key": ours_private, "gateway_public_key": gw_public}}
    body.update(over)
    return body


def bill_body(**over) -> dict:
    body = {"gateway": "gepg", "payer_name": "Asha Juma", "payer_phone": "+255700000001",
            "description": "Contribution 2026", "amount": 1500000, "currency": "TZS",
            "expires_at": (datetime.now(timezone.utc) + timedelta(days=30)).isoformat(),
            "items": [{"code": "CONTRIB", "description": "Contribution", "amount": 1500000}]}
    body.update(over)
    return body
