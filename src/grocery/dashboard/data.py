"""The dashboard's data: one dict, read from the marts through the warehouse adapter.

Everything goes through `Warehouse.query` and `Warehouse.relation`, in SQL that DuckDB and BigQuery
both accept, so the same page renders from either. Views the page filters by date and category get
day-grain rows (the page adds the days of the chosen range up itself); customer-level views come
from the customer marts as they are. The marts of the Spark stages (`mart_customer_segments`,
`mart_recommend`, `analytics.recommendation_metrics`) are optional: a missing one becomes None and
the page says it has not been computed yet.

Large row sets are columnar (a dict of equal-length lists) and refer to dimension lists by index.
The names in those lists (cities, categories, products, employees) come from the dimensions in
`core`, as they are now: the day-grain marts keep, for each day, the names it was built with, so a
member renamed since would otherwise show under its old name, or twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from grocery.config import DashboardSpec
from grocery.dashboard import geo
from grocery.quarantined import rules
from grocery.tables import SALES, TABLES
from grocery.warehouse.base import Warehouse

TOP_N = 10
AOV_BANDS = 5
LATEST_DELIVERIES = 7  # ingest dates in the data-quality panel, newest first
# Lookup rows and recommendations of at most this many customers are put in the page.
MAX_LOOKUP_CUSTOMERS = 250_000


class MissingMarts(LookupError):
    """The sales marts are not there: nothing to show before `grocery transform` has run."""


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {n: [r[n] for r in rows] for n in names}


def _num(value: Any) -> float:
    """An amount, to a millionth: far below what the page shows, so its sums still round like the marts'."""
    return round(float(value), 6) if value is not None else 0.0


def _average(value: Any) -> float | None:
    """An average, or None where there is nothing to average (the page shows a dash, not 0)."""
    return None if value is None else _num(value)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def collect(wh: Warehouse, spec: DashboardSpec, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-ready values."""
    marts = {name: wh.exists("marts", name) for name in _REQUIRED_MARTS}
    missing = [name for name, ok in marts.items() if not ok]
    if missing:
        raise MissingMarts(", ".join(f"marts.{m}" for m in missing))

    def rel(name: str, schema: str = "marts") -> str:
        return wh.relation(schema, name)

    days = _dates(wh, rel)
    day_index = {d: i for i, d in enumerate(days)}
    # The categories with sales, each once, named as the dimension names it now.
    categories = wh.query(
        "select sold.category_id, named.category_name "
        f"from (select distinct category_id from {rel('mart_daily_category_sales')}) as sold "
        f"left join (select distinct category_id, category_name from {rel('dim_products', 'core')}) as named "
        "on sold.category_id = named.category_id order by named.category_name, sold.category_id"
    )
    cat_index = {r["category_id"]: i for i, r in enumerate(categories)}

    data: dict[str, Any] = {
        "meta": _meta(wh, spec, days, now),
        "dates": [d.isoformat() for d in days],
        "categories": [r["category_name"] for r in categories],
        # Two categories may share a name: the page tells them apart, and breaks ties, by id.
        "category_ids": [r["category_id"] for r in categories],
    }
    data["daily"] = _daily(wh, rel, day_index)
    data["daily_category"] = _daily_category(wh, rel, day_index, cat_index)
    data.update(_cities(wh, rel, day_index, cat_index))
    data.update(_products(wh, rel, day_index, cat_index))
    data.update(_employees(wh, rel, day_index, cat_index))
    data["customers"] = _customers(wh, rel)
    data["aov_bands"] = _aov_bands(wh, rel)
    has_segments = wh.exists("marts", "mart_customer_segments")
    data["segments"] = _segments(wh, rel) if has_segments else None
    data["lookup"] = _lookup(wh, rel, has_segments, day_index)
    has_recs = wh.exists("marts", "mart_recommend")
    data["recommendations"] = _recommendations(wh, rel, data["lookup"]) if has_recs else None
    has_metrics = wh.exists("analytics", "recommendation_metrics")
    data["recommendation_metrics"] = _recommendation_metrics(wh, rel) if has_metrics else None
    data["quality"] = _quality(wh)
    return data


_REQUIRED_MARTS = (
    "mart_sales_summary",
    "mart_customer_behavior",
    "mart_daily_sales",
    "mart_daily_category_sales",
    "mart_product_daily_sales",
    "mart_employee_daily_sales",
)


def _dates(wh: Warehouse, rel) -> list[date]:
    """Every day from the first to the last sales date, gaps included (a moving average needs them)."""
    row = wh.query(
        f"select min(sales_date) as first, max(sales_date) as last from {rel('mart_daily_sales')}"
    )[0]
    if row["first"] is None:
        return []
    first, last = row["first"], row["last"]
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _meta(wh: Warehouse, spec: DashboardSpec, days: list[date], now: datetime | None) -> dict[str, Any]:
    latest_ingest = None
    if wh.exists("raw", SALES.name):
        latest_ingest = wh.query(f"select max(ingest_date) as d from {wh.relation('raw', SALES.name)}")[0][
            "d"
        ]
    return {
        "title": spec.title,
        "currency": spec.currency,
        "locale": "en-US",
        "warehouse": wh.kind,
        "first_date": days[0].isoformat() if days else None,
        "last_date": days[-1].isoformat() if days else None,
        "latest_ingest_date": _iso(latest_ingest),
        "generated_at": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _daily(wh: Warehouse, rel, day_index: dict[date, int]) -> dict[str, list]:
    rows = wh.query(
        "select sales_date, line_count, order_count, units, net_revenue "
        f"from {rel('mart_daily_sales')} order by sales_date"
    )
    return {
        "d": [day_index[r["sales_date"]] for r in rows],
        "lines": [int(r["line_count"]) for r in rows],
        "orders": [int(r["order_count"]) for r in rows],
        "units": [int(r["units"] or 0) for r in rows],
        "revenue": [_num(r["net_revenue"]) for r in rows],
    }


def _daily_category(wh: Warehouse, rel, day_index, cat_index) -> dict[str, list]:
    rows = wh.query(
        "select sales_date, category_id, line_count, order_count, units, net_revenue "
        f"from {rel('mart_daily_category_sales')} order by sales_date, category_id"
    )
    return {
        "d": [day_index[r["sales_date"]] for r in rows],
        "c": [cat_index[r["category_id"]] for r in rows],
        "lines": [int(r["line_count"]) for r in rows],
        "orders": [int(r["order_count"]) for r in rows],
        "units": [int(r["units"] or 0) for r in rows],
        "revenue": [_num(r["net_revenue"]) for r in rows],
    }


def _by_id(wh: Warehouse, rel, dimension: str, key: str, columns: str) -> dict[Any, dict[str, Any]]:
    """A dimension's rows by id (a few hundred): the names the page shows, as they are now."""
    return {r[key]: r for r in wh.query(f"select {key}, {columns} from {rel(dimension, 'core')}")}


def _cities(wh: Warehouse, rel, day_index, cat_index) -> dict[str, Any]:
    """Revenue by customer city, day and category (mart_sales_summary), with each city's coordinates."""
    rows = wh.query(
        "select sales_date, city_id, category_id, line_count, units, net_revenue "
        f"from {rel('mart_sales_summary')} order by sales_date, city_id, category_id"
    )
    names = _by_id(wh, rel, "dim_geography", "city_id", "city_name, country_name")
    cities: dict[Any, int] = {}
    listed: list[dict[str, Any]] = []
    for r in rows:
        if r["city_id"] not in cities:
            cities[r["city_id"]] = len(listed)
            city = names.get(r["city_id"], {})
            place = geo.locate_city(city.get("city_name") or "", city.get("country_name"))
            listed.append(
                {
                    "id": r["city_id"],
                    "name": city.get("city_name"),
                    "country": city.get("country_name"),  # tells apart two cities of one name
                    "state": place.state if place else None,
                    "lat": place.lat if place else None,
                    "lon": place.lon if place else None,
                }
            )
    return {
        "cities": listed,
        "city_sales": {
            "d": [day_index[r["sales_date"]] for r in rows],
            "city": [cities[r["city_id"]] for r in rows],
            "c": [cat_index.get(r["category_id"], -1) for r in rows],
            "lines": [int(r["line_count"]) for r in rows],
            "revenue": [_num(r["net_revenue"]) for r in rows],
        },
        "state_outlines": geo.state_outlines(),
    }


def _products(wh: Warehouse, rel, day_index, cat_index) -> dict[str, Any]:
    rows = wh.query(
        "select sales_date, product_id, units, net_revenue "
        f"from {rel('mart_product_daily_sales')} order by sales_date, product_id"
    )
    names = _by_id(wh, rel, "dim_products", "product_id", "product_name, category_id")
    index: dict[Any, int] = {}
    products: list[dict[str, Any]] = []
    for r in rows:
        if r["product_id"] not in index:
            index[r["product_id"]] = len(products)
            product = names.get(r["product_id"], {})
            products.append(
                {
                    "id": r["product_id"],
                    "name": product.get("product_name"),
                    "c": cat_index.get(product.get("category_id"), -1),
                }
            )
    return {
        "products": products,
        "product_sales": {
            "d": [day_index[r["sales_date"]] for r in rows],
            "p": [index[r["product_id"]] for r in rows],
            "units": [int(r["units"] or 0) for r in rows],
            "revenue": [_num(r["net_revenue"]) for r in rows],
        },
    }


def _employees(wh: Warehouse, rel, day_index, cat_index) -> dict[str, Any]:
    rows = wh.query(
        "select sales_date, employee_id, category_id, line_count, net_revenue "
        f"from {rel('mart_employee_daily_sales')} order by sales_date, employee_id, category_id"
    )
    names = _by_id(wh, rel, "dim_employees", "employee_id", "full_name")
    index: dict[Any, int] = {}
    employees: list[dict[str, Any]] = []
    for r in rows:
        if r["employee_id"] not in index:
            index[r["employee_id"]] = len(employees)
            employees.append(
                {"id": r["employee_id"], "name": names.get(r["employee_id"], {}).get("full_name")}
            )
    return {
        "employees": employees,
        "employee_sales": {
            "d": [day_index[r["sales_date"]] for r in rows],
            "e": [index[r["employee_id"]] for r in rows],
            "c": [cat_index.get(r["category_id"], -1) for r in rows],
            "lines": [int(r["line_count"]) for r in rows],
            "revenue": [_num(r["net_revenue"]) for r in rows],
        },
    }


def _customers(wh: Warehouse, rel) -> dict[str, Any]:
    """Customer counts and the top customers by revenue over the whole history."""
    counts = wh.query(
        "select count(*) as customers, "
        "sum(case when has_purchases then 1 else 0 end) as buying_customers "
        f"from {rel('mart_customer_behavior')}"
    )[0]
    top = wh.query(
        "select customer_id, full_name, city_name, order_count, total_spent, avg_order_value, "
        f"last_purchase_date from {rel('mart_customer_behavior')} where has_purchases "
        f"order by total_spent desc, customer_id limit {TOP_N}"
    )
    return {
        "total": int(counts["customers"] or 0),
        "buying": int(counts["buying_customers"] or 0),
        "top": [
            {
                "id": r["customer_id"],
                "name": r["full_name"],
                "city": r["city_name"],
                "orders": int(r["order_count"]),
                "revenue": _num(r["total_spent"]),
                "aov": _num(r["avg_order_value"]),
                "last": _iso(r["last_purchase_date"]),
            }
            for r in top
        ],
    }


def _aov_bands(wh: Warehouse, rel) -> list[dict[str, Any]]:
    """Buying customers in five equal-sized bands by average order value (quintiles)."""
    rows = wh.query(
        "with banded as ("
        "  select avg_order_value, total_spent, order_count, "
        f"    ntile({AOV_BANDS}) over (order by avg_order_value, customer_id) as band "
        f"  from {rel('mart_customer_behavior')} where has_purchases"
        ") "
        "select band, count(*) as customers, min(avg_order_value) as low, max(avg_order_value) as high, "
        "sum(total_spent) as revenue, sum(order_count) as orders "
        "from banded group by band order by band"
    )
    return [
        {
            "band": int(r["band"]),
            "customers": int(r["customers"]),
            "low": _num(r["low"]),
            "high": _num(r["high"]),
            "revenue": _num(r["revenue"]),
            "orders": int(r["orders"] or 0),
        }
        for r in rows
    ]


def _segments(wh: Warehouse, rel) -> list[dict[str, Any]]:
    """RFM segments: customers, revenue and average recency, frequency and spend per segment."""
    rows = wh.query(
        "select segment, count(*) as customers, sum(monetary) as revenue, avg(recency_days) as recency, "
        "avg(frequency) as frequency, avg(monetary) as monetary "
        f"from {rel('mart_customer_segments')} group by segment order by sum(monetary) desc"
    )
    return [
        {
            "segment": r["segment"] or "(none)",
            "customers": int(r["customers"]),
            "revenue": _num(r["revenue"]),
            # Customers who never bought have no recency: its average over them is null, not 0 days.
            "recency": _average(r["recency"]),
            "frequency": _average(r["frequency"]),
            "monetary": _average(r["monetary"]),
        }
        for r in rows
    ]


def _lookup(wh: Warehouse, rel, has_segments: bool, day_index: dict[date, int]) -> dict[str, Any]:
    """Every customer's id, name, city and totals, for the look-up by id or name.

    Cities and segments are indexes into their own short lists and the last purchase a day index,
    which keeps the page small when there are a hundred thousand customers.
    """
    segment_join = segment_col = ""
    if has_segments:
        segment_col = ", segments.segment"
        segment_join = (
            f" left join {rel('mart_customer_segments')} as segments "
            "on behavior.customer_id = segments.customer_id"
        )
    rows = wh.query(
        "select behavior.customer_id, behavior.full_name, behavior.city_name, behavior.order_count, "
        f"behavior.total_spent, behavior.last_purchase_date{segment_col} "
        f"from {rel('mart_customer_behavior')} as behavior{segment_join} "
        f"order by behavior.customer_id limit {MAX_LOOKUP_CUSTOMERS}"
    )
    cities = sorted({r["city_name"] or "" for r in rows})
    city_index = {c: i for i, c in enumerate(cities)}
    segments = sorted({r["segment"] or "" for r in rows}) if has_segments else []
    segment_index = {s: i for i, s in enumerate(segments)}
    return {
        "id": [r["customer_id"] for r in rows],
        "name": [r["full_name"] for r in rows],
        "cities": cities,
        "city": [city_index[r["city_name"] or ""] for r in rows],
        "orders": [int(r["order_count"]) for r in rows],
        "revenue": [_num(r["total_spent"]) for r in rows],
        "last": [day_index.get(r["last_purchase_date"], -1) for r in rows],
        "segments": segments,
        "segment": [segment_index[r["segment"] or ""] for r in rows] if has_segments else None,
    }


def _recommendations(wh: Warehouse, rel, lookup: dict[str, Any]) -> dict[str, Any]:
    """Each customer's recommendations in rank order, packed for size (a million rows at full scale).

    `start[i]:start[i + 1]` are customer i's entries in `pick`; a pick is product index * 2, plus 1
    when it is a popular-products fallback rather than the customer's own ALS result.
    """
    rows = wh.query(
        "select customer_id, product_id, product_name, category_name, is_fallback "
        f"from {rel('mart_recommend')} order by customer_id, rank"
    )
    customer_index = {cid: i for i, cid in enumerate(lookup["id"])}
    products: dict[Any, int] = {}
    catalog: list[dict[str, Any]] = []
    per_customer: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        i = customer_index.get(r["customer_id"])
        if i is None:
            continue
        if r["product_id"] not in products:
            products[r["product_id"]] = len(catalog)
            catalog.append({"id": r["product_id"], "name": r["product_name"], "category": r["category_name"]})
        per_customer[i].append(products[r["product_id"]] * 2 + int(bool(r["is_fallback"])))
    start: list[int] = []
    pick: list[int] = []
    for i in range(len(lookup["id"])):
        start.append(len(pick))
        pick += per_customer.get(i, ())
    start.append(len(pick))
    return {"catalog": catalog, "start": start, "pick": pick}


def _recommendation_metrics(wh: Warehouse, rel) -> list[dict[str, Any]]:
    """The held-out evaluation of the recommender, as the Spark stage wrote it (latest rows first)."""
    rows = wh.query(f"select * from {rel('recommendation_metrics', 'analytics')}")
    return [{k: _plain(v) for k, v in r.items()} for r in rows[:20]]


def _plain(value: Any) -> Any:
    """A JSON value for whatever a warehouse returns (dates, NUMERIC decimals, ...)."""
    if isinstance(value, date | datetime):
        return _iso(value)
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _quality(wh: Warehouse) -> dict[str, Any]:
    """Rows received, accepted and quarantined per raw table and for each of the latest deliveries,
    the reasons, and sales without a date."""
    tables = []
    reasons: dict[tuple[str, str], int] = defaultdict(int)
    for table in TABLES:
        accepted = wh.count("raw", table.name) if wh.exists("raw", table.name) else 0
        quarantined = 0
        if wh.exists("quarantine", table.name):
            for r in wh.query(
                f"select reason, count(*) as n from {wh.relation('quarantine', table.name)} group by reason"
            ):
                quarantined += int(r["n"])
                for rule in rules(r["reason"]):  # the rule is what counts, not its detail
                    reasons[(table.name, rule)] += int(r["n"])
        tables.append(
            {
                "table": table.name,
                "received": accepted + quarantined,
                "accepted": accepted,
                "quarantined": quarantined,
            }
        )
    without_date = 0
    if wh.exists("staging", "stg_grocery__sales"):
        without_date = int(
            wh.query(
                f"select count(*) as n from {wh.relation('staging', 'stg_grocery__sales')} "
                "where not has_sales_date"
            )[0]["n"]
        )
    by_day = sorted(wh.rows_by_ingest_date().items(), reverse=True)[:LATEST_DELIVERIES]
    return {
        "tables": tables,
        "deliveries": [
            {"ingest_date": day.isoformat(), "accepted": accepted, "quarantined": quarantined}
            for day, (accepted, quarantined) in by_day
        ],
        "reasons": [
            {"table": t, "reason": reason, "rows": n}
            for (t, reason), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "without_date": without_date,
    }
