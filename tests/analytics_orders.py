"""Hand-built analytics source rows, and a direct (pure Python) aggregation of the source to
validate the ETL tables against, as report 004 validated its tables."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg2.extensions

WIB = ZoneInfo("Asia/Jakarta")
KEY = ("marketplace", "shop_id", "shop_name", "user_id", "magpie_region_code")
COMPARED = ("customer_key", "marketplace", "shop_id", "shop_name", "user_id", "magpie_region_code", "kurs_rate",
            "first_order_timestamp", "last_order_timestamp", "total_order", "total_cancelled", "total_returned",
            "total_gmv_amount", "total_sku", "sku_list", "total_quantity", "address_shipping_name",
            "min_shipping_amount", "max_shipping_amount", "avg_shipping_amount")


def add_line(conn: psycopg2.extensions.connection, *, order_id: str, at: datetime, gmv: int,
             user_id: str = "u1", marketplace: str = "tokopedia", shop_id: str = "shop-1",
             shop_name: str = "Toko Satu", region: str = "ID-JK", product: str = "P1", variant: str = "V1",
             barcode: str | None = "899001", fee: int = 0, cancelled: bool = False, returned: bool = False,
             kurs_rate: int = 1, address: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO flatten_order_marketplace (marketplace, shop_id, shop_name, user_id, magpie_region_code, "
            "kurs_rate, create_timestamp, cancelled_flag, returned_flag, order_id, product_gmv_amount, "
            "marketplace_product_id, marketplace_variant_id, marketplace_product_barcode, "
            "order_shipping_fee_buyer_amount) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (marketplace, shop_id, shop_name, user_id, region, kurs_rate, at, "Y" if cancelled else "N",
             "Y" if returned else "N", order_id, gmv, product, variant, barcode, fee))
        if address is not None:
            cur.execute("INSERT INTO order_marketplace (marketplace, order_id, address_shipping_name) "
                        "VALUES (%s, %s, %s) ON CONFLICT (marketplace, order_id) "
                        "DO UPDATE SET address_shipping_name = EXCLUDED.address_shipping_name",
                        (marketplace, order_id, address))


def customer_key(marketplace: str, shop_id: str, shop_name: str, user_id: str, region: str) -> str:
    joined = "\x1f".join((marketplace, shop_id, shop_name, user_id, region))
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()


def table_rows(conn: psycopg2.extensions.connection, table: str, monthly: bool) -> dict[tuple, dict]:
    cols = COMPARED + (("month_of_order",) if monthly else ())
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(cols)} FROM {table}")
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    return {(r["customer_key"], r.get("month_of_order")): r for r in rows}


def direct_aggregation(conn: psycopg2.extensions.connection, monthly: bool) -> dict[tuple, dict]:
    """Table 4.2 straight from the source rows, written independently of the SQL."""
    with conn.cursor() as cur:
        cur.execute("SELECT f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code, f.kurs_rate, "
                    "f.create_timestamp, f.cancelled_flag, f.returned_flag, f.order_id, f.product_gmv_amount, "
                    "f.marketplace_product_id, f.marketplace_variant_id, f.marketplace_product_barcode, "
                    "f.order_shipping_fee_buyer_amount, o.address_shipping_name "
                    "FROM flatten_order_marketplace f LEFT JOIN order_marketplace o "
                    "ON o.marketplace = f.marketplace AND o.order_id = f.order_id")
        lines = cur.fetchall()
    groups: dict[tuple, list] = defaultdict(list)
    for line in lines:
        month = line[6].astimezone(WIB).strftime("%Y-%m") if monthly else None
        groups[(customer_key(*line[:5]), month)].append(line)
    out = {}
    for (key, month), rows in groups.items():
        valid = [r for r in rows if r[7] == "N" and r[8] == "N"]
        orders: dict[str, list] = defaultdict(list)
        for r in valid:
            orders[r[9]].append(r)
        fees = [max(r[14] * r[5] for r in ls) for ls in orders.values()]  # rupiah = amount x kurs_rate
        latest = max(orders.items(), key=lambda kv: (max(r[6] for r in kv[1]), kv[0].encode()), default=None)
        skus = sorted({f"{r[11]}:{r[12]}" for r in valid}, key=str.encode)
        row = {
            "customer_key": key, "marketplace": rows[0][0], "shop_id": rows[0][1], "shop_name": rows[0][2],
            "user_id": rows[0][3], "magpie_region_code": rows[0][4], "kurs_rate": max(r[5] for r in rows),
            "first_order_timestamp": min((r[6] for r in valid), default=None),
            "last_order_timestamp": max((r[6] for r in valid), default=None),
            "total_order": len(orders),
            "total_cancelled": len({r[9] for r in rows if r[7] == "Y"}),
            "total_returned": len({r[9] for r in rows if r[7] == "N" and r[8] == "Y"}),
            "total_gmv_amount": sum(r[10] * r[5] for r in valid), "total_sku": len(skus), "sku_list": skus,
            "total_quantity": sum(1 for r in valid if r[13] is not None),
            "address_shipping_name": latest[1][0][15] if latest else None,
            "min_shipping_amount": min(fees) if fees else None, "max_shipping_amount": max(fees) if fees else None,
            # half away from zero, as PostgreSQL's round(numeric)
            "avg_shipping_amount": (2 * sum(fees) + len(fees)) // (2 * len(fees)) if fees else None,
        }
        if monthly:
            row["month_of_order"] = month
        out[(key, month)] = row
    return out
