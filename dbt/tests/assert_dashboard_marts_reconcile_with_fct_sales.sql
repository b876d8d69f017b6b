-- The dashboard's day-grain marts add up to the fact: a join that multiplied (or lost) sale lines
-- would show here, and the page's totals would disagree with the sales marts.
{{ marts_reconcile_with_fct_sales([
    ['mart_daily_sales', 'net_revenue'],
    ['mart_daily_category_sales', 'net_revenue'],
    ['mart_product_daily_sales', 'net_revenue'],
    ['mart_employee_daily_sales', 'net_revenue'],
]) }}
