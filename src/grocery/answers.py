"""The top answers, read from the marts: what `grocery run` prints at the end.

Only ordering and limits happen here; every figure (revenue, units, ranks) comes from a dbt mart, so
the terminal, the dashboard and a BI tool all show the same numbers. Day-grain marts are added up by
id, and the names come from the dimension: a day keeps the names it was built with, so grouping by
a name would split a product or category renamed since into two rows.
"""

from __future__ import annotations

from grocery.warehouse.base import Warehouse

TOP = 10


def top_answers(warehouse: Warehouse) -> dict[str, list[dict]]:
    """Titled result sets: top customers, employees, cities, products, and revenue by category."""
    m = lambda name: warehouse.relation("marts", name)  # noqa: E731
    products = warehouse.relation("core", "dim_products")
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
            select products.product_name as product, products.category_name as category,
                   sold.units, sold.net_revenue
            from (select product_id, sum(units) as units, sum(net_revenue) as net_revenue
                  from {m("mart_product_daily_sales")} group by product_id) as sold
            left join {products} as products on sold.product_id = products.product_id
            order by sold.units desc, sold.product_id limit {TOP}""",
        "Revenue by product category": f"""
            select categories.category_name as category, sold.units, sold.net_revenue
            from (select category_id, sum(units) as units, sum(net_revenue) as net_revenue
                  from {m("mart_daily_category_sales")} group by category_id) as sold
            left join (select distinct category_id, category_name from {products}) as categories
                on sold.category_id = categories.category_id
            order by sold.net_revenue desc, sold.category_id""",
    }
    return {title: warehouse.query(sql) for title, sql in queries.items()}
