"""Realistic marketplace order data for the analytics demo and bench, loaded with COPY.

    python -m localdev.datagen.orders --lines 1000000 --seed 7 [--as-of 2026-11-22]

Replaces the analytics source tables with ``lines`` order lines over 18 months up to the
as-of date (WIB): five marketplaces, 30 shops, users arriving in growing monthly cohorts who
come back with decaying probability (repeat buyers), 1-4 items per order (a repeated item is
a quantity of 2), about 6 % cancelled orders and 3 % returned (some partially). Two cross-border
shops sell in foreign currency: their lines carry the amount in that currency and its
``kurs_rate`` (rupiah per unit), every other line rate 1. Deterministic for a given seed and date.

``add_daily_changes`` simulates one more day at the data mart: new orders (mostly from
existing users) plus late cancellations and returns of recent orders.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import psycopg2.extensions

from chalicelib import db
from chalicelib.zones import Zone

MARKETPLACES = ("tokopedia", "shopee", "bukalapak", "lazada", "blibli")
MARKETPLACE_WEIGHTS = (30, 35, 15, 12, 8)
# ISO 3166-2:ID province codes, weighted roughly by online-shopping population.
REGIONS = ("ID-JK", "ID-JB", "ID-JT", "ID-JI", "ID-BT", "ID-YO", "ID-SU", "ID-SS", "ID-RI", "ID-KT", "ID-KI",
           "ID-BA", "ID-SN", "ID-NB", "ID-PA")
REGION_WEIGHTS = (22, 20, 12, 14, 8, 3, 5, 3, 2, 1, 2, 3, 3, 1, 1)
SHOP_WORDS = ("Makmur", "Jaya", "Sentosa", "Abadi", "Berkah", "Sejahtera", "Mandiri", "Lestari", "Indah", "Maju")
SHOP_KINDS = ("Toko", "Grosir", "Official Store", "Galeri", "Butik")
NAMES = ("Budi Santoso", "Siti Rahayu", "Agus Setiawan", "Dewi Lestari", "Rudi Hartono", "Sri Wahyuni",
         "Andi Pratama", "Rina Marlina", "Hendra Gunawan", "Wulan Sari", "Joko Susilo", "Ayu Kartika",
         "Fajar Nugroho", "Intan Permata", "Bayu Saputra", "Nur Aisyah", "Dimas Prasetyo", "Putri Anggraini")
SHOPS_PER_MARKETPLACE = 6
PRODUCTS_PER_SHOP = 150
HISTORY_MONTHS = 18
COPY_CHUNK_LINES = 100_000
# Cross-border shops (chosen by number, so the random draws stay as they were): the currency
# they price in and its rupiah rate. Amounts on their lines are whole units of that currency.
CROSS_BORDER = {"shop-012": ("CNY", 2_250), "shop-024": ("SGD", 12_100)}

FLATTEN_COLUMNS = ("marketplace", "shop_id", "shop_name", "user_id", "magpie_region_code", "kurs_rate",
                   "create_timestamp", "cancelled_flag", "returned_flag", "order_id", "product_gmv_amount",
                   "marketplace_product_id", "marketplace_variant_id", "marketplace_product_barcode",
                   "order_shipping_fee_buyer_amount")
COPY_FLATTEN = f"COPY flatten_order_marketplace ({', '.join(FLATTEN_COLUMNS)}) FROM STDIN"
COPY_ORDERS = "COPY order_marketplace (marketplace, order_id, address_shipping_name) FROM STDIN"
TRUNCATE_ANALYTICS = """
TRUNCATE flatten_order_marketplace, order_marketplace, aggregated_monthly, final_user_analysis,
         analytics_changed_group, analytics_etl_run, rfm_score, rfm_threshold, cohort_retention,
         analytics_active_month, analytics_user_total
"""
MAX_ORDER_NUMBER = "SELECT coalesce(max(substr(order_id, 4)::BIGINT), 0) FROM order_marketplace"
RECENT_BUYERS = """
SELECT DISTINCT ON (user_id) user_id, marketplace, magpie_region_code
FROM flatten_order_marketplace
WHERE create_timestamp >= %s
ORDER BY user_id
"""
LATE_CANCEL = """
UPDATE flatten_order_marketplace SET cancelled_flag = 'Y'
WHERE (marketplace, order_id) IN (
    SELECT marketplace, order_id FROM flatten_order_marketplace
    WHERE create_timestamp >= %(since)s AND create_timestamp < %(until)s AND cancelled_flag = 'N'
    GROUP BY marketplace, order_id
    ORDER BY md5(order_id || %(salt)s)
    LIMIT %(n)s)
"""
LATE_RETURN = """
UPDATE flatten_order_marketplace SET returned_flag = 'Y'
WHERE (marketplace, order_id) IN (
    SELECT marketplace, order_id FROM flatten_order_marketplace
    WHERE create_timestamp >= %(since)s AND create_timestamp < %(until)s
      AND cancelled_flag = 'N' AND returned_flag = 'N'
    GROUP BY marketplace, order_id
    ORDER BY md5(order_id || %(salt)s)
    LIMIT %(n)s)
"""

WIB = Zone.WIB.tzinfo


@dataclass(frozen=True)
class Shop:
    marketplace: str
    shop_id: str
    shop_name: str
    products: tuple[tuple[str, str, str, int], ...]  # product id, variant id, barcode, price
    kurs_rate: int = 1  # rupiah per unit of the shop's currency; prices and fees are in that currency

    def local_amount(self, rupiah: int) -> int:
        """A rupiah amount in the shop's currency (whole units, at least 1 when rupiah > 0)."""
        return rupiah if self.kurs_rate == 1 else max(1 if rupiah else 0, round(rupiah / self.kurs_rate))


@dataclass
class Customer:
    user_id: str
    marketplace: str
    region: str
    favourite: Shop


class OrderWriter:
    """Builds COPY text for both source tables, order by order."""

    def __init__(self, rng: random.Random, shops: dict[str, list[Shop]], first_order_number: int) -> None:
        self.rng = rng
        self.shops = shops
        self.next_order = first_order_number
        self.lines = io.StringIO()
        self.orders = io.StringIO()
        self.line_count = 0

    def order(self, customer: Customer, at: datetime) -> None:
        rng = self.rng
        shop = customer.favourite if rng.random() < 0.7 else rng.choice(self.shops[customer.marketplace])
        self.next_order += 1
        order_id = f"{customer.marketplace[:2].upper()}-{self.next_order:010d}"
        fate = rng.random()
        cancelled = fate < 0.06
        returned_all = 0.06 <= fate < 0.085
        returned_one = 0.085 <= fate < 0.09
        fee = shop.local_amount(rng.choice((0, 0, 9000, 12000, 15000, 18000, 24000, 36000)))
        items = rng.choices((1, 2, 3, 4), weights=(55, 25, 13, 7))[0]
        stamp = at.isoformat()
        picked = [rng.choice(shop.products) for _ in range(items)]
        for i, (product_id, variant_id, barcode, price) in enumerate(picked):
            returned = returned_all or (returned_one and i == 0)
            self.lines.write(
                f"{shop.marketplace}\t{shop.shop_id}\t{shop.shop_name}\t{customer.user_id}\t{customer.region}\t"
                f"{shop.kurs_rate}\t"
                f"{stamp}\t{'Y' if cancelled else 'N'}\t{'Y' if returned else 'N'}\t{order_id}\t{price}\t"
                f"{product_id}\t{variant_id}\t{barcode}\t{fee}\n")
        self.line_count += items
        self.orders.write(f"{shop.marketplace}\t{order_id}\t{rng.choice(NAMES)}\n")

    def flush(self, cur: psycopg2.extensions.cursor) -> None:
        for buffer, sql in ((self.orders, COPY_ORDERS), (self.lines, COPY_FLATTEN)):
            buffer.seek(0)
            cur.copy_expert(sql, buffer)
            buffer.seek(0)
            buffer.truncate()


def make_shops(rng: random.Random) -> dict[str, list[Shop]]:
    shops: dict[str, list[Shop]] = {}
    for m_index, marketplace in enumerate(MARKETPLACES):
        for s in range(SHOPS_PER_MARKETPLACE):
            shop_no = m_index * SHOPS_PER_MARKETPLACE + s + 1
            name = f"{rng.choice(SHOP_KINDS)} {rng.choice(SHOP_WORDS)} {rng.choice(SHOP_WORDS)}"
            products = []
            for p in range(PRODUCTS_PER_SHOP):
                price = int(rng.lognormvariate(11.3, 0.9)) // 100 * 100 + 100  # median ~ Rp 80.000
                for v in range(rng.choice((1, 1, 2, 3))):
                    products.append((f"P{shop_no:03d}{p:04d}", f"V{v + 1}", f"899{shop_no:03d}{p:04d}{v:03d}",
                                     price + v * 5_000))
            shop_id = f"shop-{shop_no:03d}"
            currency, rate = CROSS_BORDER.get(shop_id, ("IDR", 1))
            if rate != 1:
                name = f"{name} Global ({currency})"
                products = [(p_id, v_id, code, max(1, round(price / rate))) for p_id, v_id, code, price in products]
            shops.setdefault(marketplace, []).append(Shop(marketplace, shop_id, name, tuple(products), rate))
    return shops


def _month_starts(as_of: date, months: int) -> list[date]:
    first = date(as_of.year, as_of.month, 1)
    starts = []
    for back in range(months - 1, -1, -1):
        year, month = divmod(first.year * 12 + first.month - 1 - back, 12)
        starts.append(date(year, month + 1, 1))
    return starts


def _random_instant(rng: random.Random, day: date) -> datetime:
    # shoppers' hours: mostly 07:00-23:00 WIB
    seconds = int(rng.triangular(7 * 3600, 24 * 3600 - 1, 20 * 3600))
    return datetime.combine(day, time(), WIB) + timedelta(seconds=seconds)


def _customer(rng: random.Random, number: int, shops: dict[str, list[Shop]]) -> Customer:
    marketplace = rng.choices(MARKETPLACES, weights=MARKETPLACE_WEIGHTS)[0]
    region = rng.choices(REGIONS, weights=REGION_WEIGHTS)[0]
    # user ids carry their marketplace, so one id is one person (the RFM unit)
    return Customer(f"{marketplace[:3]}-u{number:08d}", marketplace, region, rng.choice(shops[marketplace]))


def iter_customer_orders(rng: random.Random, customer_count: int, as_of: date,
                         shops: dict[str, list[Shop]]) -> Iterator[tuple[Customer, datetime]]:
    """(customer, order time) for every order, customer by customer, none after ``as_of``."""
    months = _month_starts(as_of, HISTORY_MONTHS)
    weights = [1.0 + 0.08 * i for i in range(len(months))]  # growing acquisition
    horizon = datetime.combine(as_of, time(23, 59, 59), WIB)
    for number in range(1, customer_count + 1):
        customer = _customer(rng, number, shops)
        start = rng.choices(months, weights=weights)[0]
        days_in_month = ((start.replace(day=28) + timedelta(days=4)).replace(day=1) - start).days
        day = start + timedelta(days=rng.randrange(days_in_month))
        if day > as_of:
            day = as_of
        at = _random_instant(rng, day)
        keep_going = 0.62
        while at <= horizon:
            yield customer, at
            if rng.random() > keep_going:
                break
            keep_going = min(0.9, keep_going + 0.04)  # the more they buy, the likelier they stay
            at += timedelta(days=rng.expovariate(1 / 40), seconds=rng.randrange(-3600, 3600))


def load(conn: psycopg2.extensions.connection, lines: int, seed: int, as_of: date) -> dict[str, int]:
    """Replace the analytics source (and outputs) with ``lines`` generated order lines."""
    rng = random.Random(seed)
    shops = make_shops(rng)
    writer = OrderWriter(rng, shops, 0)
    orders = 0
    # about 2.2 lines per order and 2.6 orders per customer: ask for enough customers, stop at `lines`
    with db.transaction(conn) as cur:
        cur.execute(TRUNCATE_ANALYTICS)
        flushed = 0
        for customer, at in iter_customer_orders(rng, max(1, lines), as_of, shops):
            writer.order(customer, at)
            orders += 1
            if writer.line_count - flushed >= COPY_CHUNK_LINES:
                writer.flush(cur)
                flushed = writer.line_count
            if writer.line_count >= lines:
                break
        writer.flush(cur)
        cur.execute("ANALYZE flatten_order_marketplace")
        cur.execute("ANALYZE order_marketplace")
    return {"lines": writer.line_count, "orders": orders}


def add_daily_changes(conn: psycopg2.extensions.connection, day: date, seed: int, *, new_orders: int = 2_000,
                      late_cancellations: int = 300, late_returns: int = 200) -> dict[str, int]:
    """One more day at the data mart: orders on ``day`` (80 % from recent buyers, the rest new
    users), then late cancellations of the last 7 days' orders and returns of the last 30 days'."""
    rng = random.Random(seed * 1_000_003 + day.toordinal())
    shops = make_shops(random.Random(seed))
    start_of_day = datetime.combine(day, time(), WIB)
    with db.transaction(conn) as cur:
        cur.execute(MAX_ORDER_NUMBER)
        writer = OrderWriter(rng, shops, db.one(cur)[0])
        cur.execute(RECENT_BUYERS, (start_of_day - timedelta(days=120),))
        buyers = cur.fetchall()
        next_user = 90_000_000 + day.toordinal() % 10_000 * 1_000
        for i in range(new_orders):
            if buyers and rng.random() < 0.8:
                user_id, marketplace, region = rng.choice(buyers)
                customer = Customer(user_id, marketplace, region, rng.choice(shops[marketplace]))
            else:
                customer = _customer(rng, next_user + i, shops)
            writer.order(customer, _random_instant(rng, day))
        writer.flush(cur)
        cancel = {"since": start_of_day - timedelta(days=7), "until": start_of_day, "n": late_cancellations,
                  "salt": f"c{seed}{day}"}
        cur.execute(LATE_CANCEL, cancel)
        cancelled = cur.rowcount
        returns = {"since": start_of_day - timedelta(days=30), "until": start_of_day, "n": late_returns,
                   "salt": f"r{seed}{day}"}
        cur.execute(LATE_RETURN, returns)
        returned = cur.rowcount
    return {"new_lines": writer.line_count, "new_orders": new_orders,
            "cancelled_lines": cancelled, "returned_lines": returned}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.datagen.orders")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="last order day (WIB), YYYY-MM-DD")
    args = parser.parse_args(argv)
    if args.lines < 1:
        parser.error("--lines must be positive")
    as_of = args.as_of or datetime.now(UTC).astimezone(WIB).date()
    conn = db.connect()
    try:
        counts = load(conn, args.lines, args.seed, as_of)
    finally:
        conn.close()
    print(f"loaded {counts['lines']:,} order lines in {counts['orders']:,} orders up to {as_of}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
