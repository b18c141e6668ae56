"""Issuing: issuer keys (keys), passes (passes: claims, COSE_Sign1, GP1 text), QR codes (qr),
printable cards (cards), rosters and batches (roster), signed device bundles (bundles)."""
