"""The top answers, read from the marts: what `grocery run` prints at the end.

Only ordering and limits happen here; every figure (revenue, units, ranks) comes from a dbt mart, so
the terminal, the dashboard and a BI tool all show the same numbers.
"""

from __future__ import annotations

from grocery.warehouse.base import Warehouse

TOP = 10


def top_answers(warehouse: Warehouse) -> dict[str, list[dict]]:
    """Titled result sets: top customers, employees, cities, products, and revenue by category."""
    m = lambda name: warehouse.relation("marts", name)  # noqa: E731
    queries = {
        f"Top {TOP} customers by revenue": f"""
            select customer_id, full_name as customer, city_name as city, order_count as orders,
                   total_spent as net_revenue
            from {m("mart_customer_behavior")} order by total_spent desc, customer_id limit {TOP}""",
        f"Top {TOP} employees by revenue": f"""
            select employee_id, full_name as employee, customers_served, line_count as sale_lines,
                   total_revenue as net_revenue
            from {m("mart_employee_performance")} order by total_revenue desc, employee_id limit {TOP}""",
        f"Top {TOP} cities by revenue": f"""
            select revenue_rank as rank, city_name as city, line_count as sale_lines, units, net_revenue
            from {m("mart_city_revenue")} order by revenue_rank, city_id limit {TOP}""",
        f"Hot-selling products (top {TOP} by units)": f"""
            select product_name as product, category_name as category, sum(units) as units,
                   sum(net_revenue) as net_revenue
            from {m("mart_product_daily_sales")} group by product_id, product_name, category_name
            order by units desc, product_id limit {TOP}""",
        "Revenue by product category": f"""
            select category_name as category, sum(units) as units, sum(net_revenue) as net_revenue
            from {m("mart_daily_category_sales")} group by category_name order by net_revenue desc""",
    }
    return {title: warehouse.query(sql) for title, sql in queries.items()}
