"""The control-number collections adapter, after Tanzania's government e-payment gateway (GePG).

Every message is ``<Gepg><CONTENT>...</CONTENT><gepgSignature>BASE64</gepgSignature></Gepg>``; the
signature covers the exact bytes of the content element, as sent. Flow: bill submission
(``gepgBillSubReq``, acknowledged at once with a status code) → the control number by callback
(``gepgBillSubResp``) → payment notifications by callback (``gepgPmtSpInfo``, re-sent until
acknowledged) → on request, a day's statement by callback (``gepgSpReconcResp``). Each callback is
answered with a signed ``...Ack`` holding a status code (7101 success, 7303 invalid signature).

Amounts travel in major units with two decimals (``15000.00``); dates as ``YYYY-MM-DDTHH:MM:SS`` in
the gateway's time zone (option ``timezone``, default UTC). XML is parsed with the standard library
after refusing any document type declaration (no entities, so no entity expansion or external
fetches; decision 0402).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests

from schemehost.platform.money import from_minor, to_minor
from schemehost.tenants.payments.adapters import (BadMessage, Callback, GatewayConfig, GatewayRefused,
                                                  GatewayUnavailable)
from schemehost.tenants.payments.signing import sign, verify

SUCCESS = "7101"
INVALID_SIGNATURE = "7303"
BAD_MESSAGE = "7201"  # a message that cannot be read
DUPLICATE_PAYMENT = "7207"
BILL_EXPIRED = "7213"
DUPLICATE_BILL = "7226"
#: status codes meaning "the gateway has this bill" (a re-submission after a lost answer)
ACCEPTED = {SUCCESS, DUPLICATE_BILL}
PAY_OPTIONS = {"full": "1", "partial": "2", "exact": "3"}
MAX_BODY = 5 * 1024 * 1024
CONTENT_TYPE = "application/xml"

ENVELOPE = re.compile(
    rb"\A\s*(?:<\?xml[^>]*\?>\s*)?<Gepg>\s*(?P<content><(?P<tag>[A-Za-z]+)>.*</(?P=tag)>)\s*"
    rb"<gepgSignature>(?P<sig>[A-Za-z0-9+/=\s]*)</gepgSignature>\s*</Gepg>\s*\Z", re.S)
CALLBACK_KINDS = {"gepgBillSubResp": "control_number", "gepgPmtSpInfo": "payment",
                  "gepgSpReconcResp": "statement"}
ACK_TAGS = {"control_number": "gepgBillSubRespAck", "payment": "gepgPmtSpInfoAck",
            "statement": "gepgSpReconcRespAck", None: "gepgAck"}


# ---- envelope ---------------------------------------------------------------------------------------


def _element(tag: str, children: dict[str, Any] | list[tuple[str, Any]]) -> ET.Element:
    el = ET.Element(tag)
    for name, value in (children.items() if isinstance(children, dict) else children):
        if isinstance(value, ET.Element):
            el.append(value)
            continue
        child = ET.SubElement(el, name)
        if isinstance(value, (list, dict)):
            for sub in (value if isinstance(value, list) else [value]):
                child.append(sub)
        elif value is not None:
            child.text = str(value)
    return el


def envelope(content: ET.Element, gw: GatewayConfig) -> bytes:
    """``content`` serialised and signed with our key, inside ``<Gepg>``."""
    data = ET.tostring(content, encoding="unicode").encode()
    signature = sign(gw.keys, data)
    return b"<Gepg>" + data + b"<gepgSignature>" + signature.encode() + b"</gepgSignature></Gepg>"


def parse_xml(data: bytes) -> ET.Element:
    """A content element parsed safely: UTF-8 only, no document type (so no entities)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("not UTF-8") from None
    if "<!" in text.replace("<![CDATA[", ""):
        raise BadMessage("document type declarations are not accepted")
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        raise BadMessage("malformed XML") from None


def open_envelope(body: bytes, gw: GatewayConfig) -> tuple[str, ET.Element, bytes]:
    """(content tag, parsed content, the signed bytes) of a gateway message whose signature is
    right; ``BadMessage`` otherwise."""
    if len(body) > MAX_BODY:
        raise BadMessage("message too large")
    match = ENVELOPE.match(body)
    if match is None:
        raise BadMessage("not a gateway message")
    content = match.group("content")
    if not verify(gw.keys, content, match.group("sig").decode()):
        raise BadMessage("invalid signature", signature=True)
    return match.group("tag").decode(), parse_xml(content), content


def _text(el: ET.Element, path: str, *, required: bool = True) -> str | None:
    found = el.find(path)
    value = (found.text or "").strip() if found is not None else ""
    if not value:
        if required:
            raise BadMessage(f"{path} is missing")
        return None
    return value


def _amount(value: str, currency: str) -> int:
    try:
        return to_minor(Decimal(value), currency)
    except (ValueError, ArithmeticError):
        raise BadMessage("not an amount") from None


def _when(value: str | None, gw: GatewayConfig) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadMessage("not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(gw.options.get("timezone") or "UTC"))
    return moment.astimezone(timezone.utc)


def _local(moment: datetime, gw: GatewayConfig) -> str:
    return moment.astimezone(ZoneInfo(gw.options.get("timezone") or "UTC")).strftime("%Y-%m-%dT%H:%M:%S")


def _major(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency):.2f}"


# ---- the adapter ------------------------------------------------------------------------------------


class ControlNumberAdapter:
    kind = "control_number"

    def _post(self, gw: GatewayConfig, path: str, body: bytes, com: str) -> tuple[str, ET.Element]:
        try:
            resp = requests.post(gw.base_url.rstrip("/") + path, data=body, timeout=gw.timeout_s,
                                 headers={"Content-Type": CONTENT_TYPE, "Gepg-Com": com, "Gepg-Code": gw.sp_code})
        except requests.RequestException as err:  # timeouts, refused connections, resets
            raise GatewayUnavailable(type(err).__name__) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise GatewayUnavailable(f"HTTP {resp.status_code}")
        try:
            tag, content, _signed = open_envelope(resp.content, gw)
        except BadMessage as err:
            raise GatewayRefused("invalid-answer", err.reason) from None
        return tag, content

    def submit_bill(self, gw: GatewayConfig, bill: dict[str, Any]) -> str:
        currency = bill["currency"]
        items = [_element("BillItem", [
            ("BillItemRef", item.get("code") or f"{bill['reference']}-{n}"),
            ("UseItemRefOnPay", "N"),
            ("BillItemAmt", _major(item["amount"], currency)),
            ("BillItemEqvAmt", _major(item["amount"], currency)),
            ("BillItemMiscAmt", "0.00"),
            ("GfsCode", item.get("gfs_code") or gw.options.get("gfs_code") or "0"),
        ]) for n, item in enumerate(bill["items"], start=1)]
        trx = _element("BillTrxInf", [
            ("BillId", bill["reference"]),
            ("SubSpCode", gw.options.get("sub_sp_code") or "1001"),
            ("SpSysId", gw.options.get("system_id") or "SCHEMEHOST"),
            ("BillAmt", _major(bill["amount"], currency)),
            ("MiscAmt", "0.00"),
            ("BillExprDt", _local(bill["expires_at"], gw)),
            ("PyrId", bill.get("payer_id") or bill["reference"]),
            ("PyrName", bill["payer_name"]),
            ("BillDesc", bill["description"]),
            ("BillGenDt", _local(bill["created_at"], gw)),
            ("BillGenBy", bill.get("created_by") or "schemehost"),
            ("BillApprBy", bill.get("created_by") or "schemehost"),
            ("PyrCellNum", bill.get("payer_phone")),
            ("PyrEmail", bill.get("payer_email")),
            ("Ccy", currency),
            ("BillEqvAmt", _major(bill["amount"], currency)),
            ("RemFlag", "true"),
            ("BillPayOpt", PAY_OPTIONS[bill["payment_option"]]),
            ("BillItems", items),
        ])
        content = _element("gepgBillSubReq", [
            ("BillHdr", _element("BillHdr", [("SpCode", gw.sp_code), ("RtrRespFlg", "true")])),
            ("BillTrxInf", trx),
        ])
        _tag, answer = self._post(gw, "/bills", envelope(content, gw), "default.sp.in")
        code = _text(answer, "TrxStsCode")
        if code not in ACCEPTED:
            raise GatewayRefused(code)
        return code

    def request_statement(self, gw: GatewayConfig, request_id: str, day: date) -> str:
        content = _element("gepgSpReconcReq", [("SpReconcReqId", request_id), ("SpCode", gw.sp_code),
                                               ("TnxDt", day.isoformat()), ("ReconcOpt", "1")])
        _tag, answer = self._post(gw, "/reconciliations", envelope(content, gw), "default.sp.in")
        code = _text(answer, "ReconcStsCode", required=False) or _text(answer, "TrxStsCode")
        if code != SUCCESS:
            raise GatewayRefused(code)
        return code

    def read_callback(self, gw: GatewayConfig, body: bytes, headers: dict[str, str]) -> Callback:
        tag, content, signed = open_envelope(body, gw)
        kind = CALLBACK_KINDS.get(tag)
        if kind is None:
            raise BadMessage("unknown message")
        reader = {"control_number": self._control_number, "payment": self._payment,
                  "statement": self._statement}[kind]
        return Callback(kind=kind, fields=reader(content, gw), signed=signed)

    def _control_number(self, content: ET.Element, gw: GatewayConfig) -> dict[str, Any]:
        trx = content.find("BillTrxInf")
        if trx is None:
            raise BadMessage("BillTrxInf is missing")
        code = _text(trx, "TrxStsCode")
        return {"bill_reference": _text(trx, "BillId"), "status_code": code,
                "control_number": _text(trx, "PayCntrNum", required=code == SUCCESS)}

    def _payment(self, content: ET.Element, gw: GatewayConfig) -> dict[str, Any]:
        trx = content.find("PymtTrxInf")
        if trx is None:
            raise BadMessage("PymtTrxInf is missing")
        currency = _text(trx, "CCy")
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise BadMessage("not a currency")
        return {"txn_id": _text(trx, "TrxId"), "bill_reference": _text(trx, "BillId", required=False),
                "control_number": _text(trx, "PayCtrNum", required=False),
                "amount": _amount(_text(trx, "PaidAmt"), currency), "currency": currency,
                "paid_at": _when(_text(trx, "TrxDtTm"), gw), "channel": _text(trx, "UsdPayChnl", required=False),
                "receipt": _text(trx, "PspReceiptNumber", required=False)}

    def _statement(self, content: ET.Element, gw: GatewayConfig) -> dict[str, Any]:
        info = content.find("ReconcBatchInfo")
        if info is None:
            raise BadMessage("ReconcBatchInfo is missing")
        rows = []
        for trx in content.iterfind("ReconcTrans/ReconcTrxInf"):
            currency = _text(trx, "CCy")
            rows.append({"txn_id": _text(trx, "pspTrxId"), "bill_reference": _text(trx, "SpBillId", required=False),
                         "control_number": _text(trx, "BillCtrNum", required=False),
                         "amount": _amount(_text(trx, "PaidAmt"), currency), "currency": currency,
                         "paid_at": _when(_text(trx, "TrxDtTm", required=False), gw)})
        return {"request_id": _text(info, "SpReconcReqId"), "status_code": _text(info, "ReconcStsCode"),
                "transactions": rows}

    def refusal_code(self, *, signature: bool) -> str:
        return INVALID_SIGNATURE if signature else BAD_MESSAGE

    def acknowledge(self, gw: GatewayConfig, callback_kind: str | None, code: str) -> tuple[bytes, str]:
        return envelope(_element(ACK_TAGS.get(callback_kind, "gepgAck"), [("TrxStsCode", code)]), gw), CONTENT_TYPE
