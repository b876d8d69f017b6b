"""The `generator` source: synthetic files with the shape of the Kaggle "Grocery Sales Dataset".

Deterministic for a seed. `scale=1` gives the real sizes (6,758,125 sales lines, 98,759 customers,
452 products, 23 employees, 96 cities, 206 countries, 11 categories); smaller scales shrink the
customers and sales for tests, larger ones grow them in bounded memory (sales are written one day
at a time).

Unlike the published data, which is close to uniform noise, the generator plants behaviour for the
models to find:
- product popularity is skewed (Zipf-like) within and across categories;
- every customer has a preferred category and a few favourite products bought again and again;
- customer activity is heavy-tailed, some customers join late and some stop buying (churn);
- daily volume follows a weekday pattern and a slow upward trend, level after the history.

Sales are generated per day from a random stream seeded by (seed, day), so the file for one day
equals that day's lines in the full history, and days after the history ("records come in every
day") continue it with fresh, non-colliding SalesIDs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from grocery import tables as t
from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.base import Delivery

HISTORY_START = date(2018, 1, 1)
HISTORY_END = date(2018, 5, 9)
HISTORY_DAYS = (HISTORY_END - HISTORY_START).days + 1

FULL_SALES = 6_758_125
FULL_CUSTOMERS = 98_759
N_PRODUCTS = 452
N_EMPLOYEES = 23
N_CITIES = 96
N_COUNTRIES = 206
UNDATED_SHARE = 0.01  # about 1% of the published lines have no SalesDate

CATEGORIES = (
    "Confections", "Shell fish", "Cereals", "Dairy", "Beverages", "Seafood",
    "Meat", "Grain", "Poultry", "Snails", "Produce",
)  # fmt: skip

# Words for product names, per category ("<base> - <variant>", as in the published file).
PRODUCT_WORDS = {
    "Confections": (("Cookie", "Chocolate", "Candy", "Cake", "Muffin", "Tart", "Pastry"), ("Chocolate Chip", "Dark", "Milk", "Caramel", "Almond", "Raspberry", "Mini")),
    "Shell fish": (("Shrimp", "Crab", "Lobster", "Mussels", "Oysters", "Scallops"), ("Tiger", "King", "Fresh", "Frozen", "Cooked", "Jumbo")),
    "Cereals": (("Flour", "Oats", "Muesli", "Cereal", "Bran", "Granola"), ("Whole Wheat", "Rolled", "Honey", "Organic", "Multigrain", "Crunchy")),
    "Dairy": (("Cheese", "Milk", "Yogurt", "Butter", "Cream", "Eggs"), ("Cheddar", "Skim", "Greek", "Unsalted", "Whipping", "Free Range")),
    "Beverages": (("Juice", "Tea", "Coffee", "Water", "Soda", "Wine"), ("Orange", "Green", "Espresso", "Sparkling", "Lime", "Red")),
    "Seafood": (("Salmon", "Tuna", "Cod", "Trout", "Halibut", "Sardines"), ("Fillet", "Smoked", "Steak", "Whole", "Canned", "Atlantic")),
    "Meat": (("Beef", "Pork", "Lamb", "Veal", "Bacon", "Sausage"), ("Ground", "Tenderloin", "Chops", "Striploin", "Smoked", "Italian")),
    "Grain": (("Rice", "Pasta", "Bread", "Quinoa", "Barley", "Couscous"), ("Basmati", "Penne", "Sourdough", "Red", "Pearl", "Whole Grain")),
    "Poultry": (("Chicken", "Turkey", "Duck", "Quail", "Goose"), ("Breast", "Thighs", "Wings", "Whole", "Ground", "Legs")),
    "Snails": (("Escargot", "Snails"), ("Canned", "Burgundy", "Garlic Butter", "Large", "Shelled")),
    "Produce": (("Onions", "Apples", "Lettuce", "Tomatoes", "Potatoes", "Peppers", "Carrots", "Garlic"), ("Cippolini", "Gala", "Romaine", "Roma", "Yukon", "Red", "Baby", "Peeled")),
}  # fmt: skip

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
    "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah",
    "Pablo", "Nicole", "Christine", "Devon", "Tyrone", "Lindsay", "Seth", "Wendi", "Chadwick", "Janet",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Fuller", "Palmer", "Cline", "Brock", "Hatfield", "Lamb", "Cook", "Frye", "Holt", "Kidd",
)  # fmt: skip
STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "River",
    "Church", "Spring", "Ridge", "Mill", "Forest", "Meadow", "Highland", "Valley",
)  # fmt: skip
STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way")

US_CITIES = (
    "New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego",
    "Dallas", "San Jose", "Austin", "Jacksonville", "Fort Worth", "Columbus", "Charlotte", "Indianapolis",
    "San Francisco", "Seattle", "Denver", "Washington", "Boston", "El Paso", "Nashville", "Detroit",
    "Oklahoma City", "Portland", "Las Vegas", "Memphis", "Louisville", "Baltimore", "Milwaukee", "Albuquerque",
    "Tucson", "Fresno", "Mesa", "Sacramento", "Atlanta", "Kansas City", "Colorado Springs", "Omaha",
    "Raleigh", "Miami", "Long Beach", "Virginia Beach", "Oakland", "Minneapolis", "Tulsa", "Tampa",
    "Arlington", "New Orleans", "Wichita", "Cleveland", "Bakersfield", "Aurora", "Anaheim", "Honolulu",
    "Santa Ana", "Riverside", "Corpus Christi", "Lexington", "Stockton", "Henderson", "Saint Paul", "St. Louis",
    "Cincinnati", "Pittsburgh", "Greensboro", "Anchorage", "Plano", "Lincoln", "Orlando", "Irvine",
    "Newark", "Toledo", "Durham", "Chula Vista", "Fort Wayne", "Jersey City", "St. Petersburg", "Laredo",
    "Madison", "Chandler", "Buffalo", "Lubbock", "Scottsdale", "Reno", "Glendale", "Gilbert",
    "Winston-Salem", "North Las Vegas", "Norfolk", "Chesapeake", "Garland", "Irving", "Hialeah", "Dayton",
)  # fmt: skip

COUNTRY_NAMES = (
    "Afghanistan", "Albania", "Algeria", "Andorra", "Angola", "Antigua and Barbuda", "Argentina", "Armenia",
    "Australia", "Austria", "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh", "Barbados", "Belarus", "Belgium",
    "Belize", "Benin", "Bhutan", "Bolivia", "Bosnia and Herzegovina", "Botswana", "Brazil", "Brunei", "Bulgaria",
    "Burkina Faso", "Burundi", "Cambodia", "Cameroon", "Canada", "United States", "Cape Verde",
    "Central African Republic", "Chad", "Chile", "China", "Colombia", "Comoros", "Congo", "Costa Rica",
    "Croatia", "Cuba", "Cyprus", "Czech Republic", "Denmark", "Djibouti", "Dominica", "Dominican Republic",
    "Ecuador", "Egypt", "El Salvador", "Equatorial Guinea", "Eritrea", "Estonia", "Ethiopia", "Fiji", "Finland",
    "France", "Gabon", "Gambia", "Georgia", "Germany", "Ghana", "Greece", "Grenada", "Guatemala", "Guinea",
    "Guinea-Bissau", "Guyana", "Haiti", "Honduras", "Hungary", "Iceland", "India", "Indonesia", "Iran", "Iraq",
    "Ireland", "Israel", "Italy", "Jamaica", "Japan", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Kuwait",
    "Kyrgyzstan", "Laos", "Latvia", "Lebanon", "Lesotho", "Liberia", "Libya", "Liechtenstein", "Lithuania",
    "Luxembourg", "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta", "Marshall Islands",
    "Mauritania", "Mauritius", "Mexico", "Micronesia", "Moldova", "Monaco", "Mongolia", "Montenegro", "Morocco",
    "Mozambique", "Myanmar", "Namibia", "Nauru", "Nepal", "Netherlands", "New Zealand", "Nicaragua", "Niger",
    "Nigeria", "North Korea", "North Macedonia", "Norway", "Oman", "Pakistan", "Palau", "Panama",
    "Papua New Guinea", "Paraguay", "Peru", "Philippines", "Poland", "Portugal", "Qatar", "Romania", "Russia",
    "Rwanda", "Saint Kitts and Nevis", "Saint Lucia", "Saint Vincent", "Samoa", "San Marino",
    "Sao Tome and Principe", "Saudi Arabia", "Senegal", "Serbia", "Seychelles", "Sierra Leone", "Singapore",
    "Slovakia", "Slovenia", "Solomon Islands", "Somalia", "South Africa", "South Korea", "South Sudan", "Spain",
    "Sri Lanka", "Sudan", "Suriname", "Sweden", "Switzerland", "Syria", "Taiwan", "Tajikistan", "Tanzania",
    "Thailand", "Timor-Leste", "Togo", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Turkmenistan",
    "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates", "United Kingdom", "Uruguay", "Uzbekistan", "Vanuatu",
    "Vatican City", "Venezuela", "Vietnam", "Yemen", "Zambia", "Zimbabwe", "Aruba", "Bermuda", "Greenland",
    "Puerto Rico", "Guam", "Kosovo", "Macau", "Hong Kong", "Gibraltar", "Faroe Islands", "Curacao",
    "Cayman Islands", "Montserrat", "New Caledonia",
)  # fmt: skip
US_COUNTRY_ID = 32  # every city of the published data is in country 32

# Relative daily volume by weekday (Monday first) and the rise over the history.
WEEKDAY_FACTOR = np.array([0.92, 0.95, 0.96, 1.0, 1.08, 1.2, 1.12])
TREND_PER_HISTORY = 0.25
DISCOUNTS = np.array(["0.0", "0.1", "0.2"])
DISCOUNT_P = np.array([0.82, 0.08, 0.10])  # mean 0.028, 75th percentile 0, as published
# How a sale line picks its product: a favourite, the preferred category, or anything.
P_FAVOURITE, P_PREFERRED = 0.30, 0.45
FAVOURITES = 4
_ALPHANUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)


def _fmt_ts(moment: datetime) -> str:
    """The dataset's timestamp format: 2018-02-05 07:38:25.430."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(w)


@dataclass(frozen=True)
class GeneratorSource:
    """Synthetic data; `scale` sizes customers and sales, `seed` fixes every value."""

    scale: float = 0.05
    seed: int = 42

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        if interval.start is not None and interval.start < HISTORY_START:
            raise SourceError(
                f"the generator's sales begin on {HISTORY_START}, as the dataset's do: {interval} starts before them",
                hint=f"choose days from {HISTORY_START} on; for a schedule, set spec.startDate to one",
            )
        days = interval.days() if not interval.is_everything else None
        World(self.scale, self.seed).write(workdir, days)
        last = interval.end if interval.end else HISTORY_END
        return Delivery(
            folder=workdir, description=f"generator scale={self.scale} seed={self.seed}", last_sales_date=last
        )


class World:
    """Everything fixed by the seed: the dimension tables and each customer's habits."""

    def __init__(self, scale: float, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.n_customers = max(50, round(FULL_CUSTOMERS * scale))
        self.n_history_sales = max(500, round(FULL_SALES * scale))
        rng = np.random.default_rng([seed, 0])
        self.product_category = rng.integers(0, len(CATEGORIES), N_PRODUCTS)  # 0-based category index
        self.product_weight = _zipf_weights(N_PRODUCTS, 0.9, rng)
        self.category_weight = np.bincount(
            self.product_category, weights=self.product_weight, minlength=len(CATEGORIES)
        )
        self.price = np.round(rng.uniform(0.04, 99.9, N_PRODUCTS), 4)
        # Customers: activity, active window (joining late, churning), preferred category, favourites.
        self.activity = rng.lognormal(0.0, 1.0, self.n_customers)
        joins_late = rng.random(self.n_customers) < 0.25
        self.first_day = np.where(joins_late, rng.integers(0, HISTORY_DAYS, self.n_customers), 0)
        churns = rng.random(self.n_customers) < 0.2
        churn_day = self.first_day + (rng.random(self.n_customers) * (HISTORY_DAYS - self.first_day)).astype(
            int
        )
        self.last_day = np.where(churns, churn_day, np.iinfo(np.int32).max)
        self.preferred = rng.choice(
            len(CATEGORIES), self.n_customers, p=self.category_weight / self.category_weight.sum()
        )
        self.favourites = np.stack(
            [self._draw_in_category(self.preferred, rng) for _ in range(FAVOURITES)], axis=1
        )
        self.employee_weight = rng.lognormal(0.0, 0.4, N_EMPLOYEES)
        self.usual_employee = rng.choice(
            N_EMPLOYEES, self.n_customers, p=self.employee_weight / self.employee_weight.sum()
        )
        self.customer_city = rng.choice(N_CITIES, self.n_customers, p=self._city_weights(rng))

    # -- sampling helpers -------------------------------------------------------------------------

    @cached_property
    def _category_tables(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per category: its product indexes and their cumulative popularity (0..1)."""
        out = []
        for k in range(len(CATEGORIES)):
            idx = np.flatnonzero(self.product_category == k)
            cdf = np.cumsum(self.product_weight[idx])
            out.append((idx, cdf / cdf[-1]))
        return out

    def _draw_in_category(self, categories: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One product index per entry, drawn by popularity within the given category."""
        out = np.empty(len(categories), dtype=np.int64)
        u = rng.random(len(categories))
        for k, (idx, cdf) in enumerate(self._category_tables):
            rows = np.flatnonzero(categories == k)
            out[rows] = idx[np.minimum(np.searchsorted(cdf, u[rows]), len(idx) - 1)]
        return out

    @staticmethod
    def _city_weights(rng: np.random.Generator) -> np.ndarray:
        w = _zipf_weights(N_CITIES, 0.6, rng)
        return w / w.sum()

    def day_weight(self, day_index: np.ndarray) -> np.ndarray:
        """Relative sales volume of days counted from HISTORY_START: the weekday pattern, and the
        trend of the history, which levels off where the history ends (a day in 2026 would
        otherwise sell 7.5 times a day of 2018)."""
        weekday = (np.asarray(day_index) + HISTORY_START.weekday()) % 7
        grown = np.minimum(np.asarray(day_index), HISTORY_DAYS - 1) / HISTORY_DAYS
        return WEEKDAY_FACTOR[weekday] * (1 + TREND_PER_HISTORY * grown)

    @cached_property
    def _history_counts(self) -> np.ndarray:
        """Lines per history day, summing exactly to the history's size (largest remainder)."""
        share = self.day_weight(np.arange(HISTORY_DAYS))
        exact = self.n_history_sales * share / share.sum()
        counts = np.floor(exact).astype(np.int64)
        short = self.n_history_sales - counts.sum()
        counts[np.argsort(counts - exact)[:short]] += 1
        return counts

    @cached_property
    def _mean_day(self) -> float:
        """Lines of a day of weight 1, over the history."""
        return self.n_history_sales / self.day_weight(np.arange(HISTORY_DAYS)).sum()

    def _later_lines(self, day_index: np.ndarray) -> np.ndarray:
        """Lines per day after the history: the history's mean, by the day's weight; one at least."""
        return np.maximum(1, np.round(self._mean_day * self.day_weight(day_index))).astype(np.int64)

    def lines_on(self, day_index: int) -> int:
        if 0 <= day_index < HISTORY_DAYS:
            return int(self._history_counts[day_index])
        return int(self._later_lines(np.array([day_index]))[0])

    def first_sales_id(self, day_index: int) -> int:
        """SalesIDs are numbered day by day: history days first, later days continue after them."""
        if day_index < 0:
            raise ValueError(f"the generator's history starts on {HISTORY_START}")
        if day_index < HISTORY_DAYS:
            return 1 + int(self._history_counts[:day_index].sum())
        later = int(self._later_lines(np.arange(HISTORY_DAYS, day_index)).sum())
        return 1 + self.n_history_sales + later

    # -- tables -----------------------------------------------------------------------------------

    def write(self, folder: Path, days: list[date] | None) -> None:
        """Write the seven files: full dimension snapshots, and the sales of `days` (None: the history)."""
        folder.mkdir(parents=True, exist_ok=True)
        for table, rows in self.dimension_rows().items():
            with open(folder / t.table(table).file_name, "w", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(t.table(table).column_names)
                writer.writerows(rows)
        day_indexes = range(HISTORY_DAYS) if days is None else [(d - HISTORY_START).days for d in days]
        self.write_sales(folder / t.SALES.file_name, day_indexes)

    def dimension_rows(self) -> dict[str, list[tuple]]:
        rng = np.random.default_rng([self.seed, 1])
        letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
        codes = ["".join(rng.choice(letters, 2)) for _ in range(N_COUNTRIES)]
        codes[COUNTRY_NAMES.index("Australia")] = (
            "NA"  # as published: a code that naive readers turn into NULL
        )
        countries = [(i + 1, name, codes[i]) for i, name in enumerate(COUNTRY_NAMES[:N_COUNTRIES])]
        cities = [
            (i + 1, name, f"{rng.integers(10000, 99999)}", US_COUNTRY_ID) for i, name in enumerate(US_CITIES)
        ]
        categories = [(i + 1, name) for i, name in enumerate(CATEGORIES)]
        products = []
        modified = datetime(2017, 1, 1)
        for p in range(N_PRODUCTS):
            category = CATEGORIES[self.product_category[p]]
            bases, variants = PRODUCT_WORDS[category]
            name = f"{bases[rng.integers(len(bases))]} - {variants[rng.integers(len(variants))]}"
            products.append((
                p + 1, name, f"{self.price[p]:.4f}".rstrip("0").rstrip("."), int(self.product_category[p]) + 1,
                ("Low", "Medium", "High")[rng.integers(3)],
                _fmt_ts(modified + timedelta(seconds=int(rng.integers(0, 500 * 86400)), milliseconds=int(rng.integers(1000)))),
                ("Durable", "Weak", "Unknown")[rng.integers(3)], ("TRUE", "FALSE", "Unknown")[rng.integers(3)],
                int(rng.integers(0, 121)) if rng.random() < 0.6 else 0,
            ))  # fmt: skip
        employees = []
        for e in range(N_EMPLOYEES):
            born = datetime(1955, 1, 1) + timedelta(days=int(rng.integers(0, 35 * 365)))
            hired = datetime(2010, 1, 1) + timedelta(
                seconds=int(rng.integers(0, 8 * 365 * 86400)), milliseconds=int(rng.integers(1000))
            )
            employees.append((
                e + 1, FIRST_NAMES[rng.integers(len(FIRST_NAMES))], letters[rng.integers(26)],
                LAST_NAMES[rng.integers(len(LAST_NAMES))], _fmt_ts(born), ("M", "F")[rng.integers(2)],
                int(rng.integers(1, N_CITIES + 1)), _fmt_ts(hired),
            ))  # fmt: skip
        n = self.n_customers
        first = np.array(FIRST_NAMES)[rng.integers(len(FIRST_NAMES), size=n)]
        last = np.array(LAST_NAMES)[rng.integers(len(LAST_NAMES), size=n)]
        middle = np.array(letters)[rng.integers(26, size=n)].astype(object)
        middle[rng.random(n) < 0.01] = ""  # about 1% without a middle initial
        number = rng.integers(1, 1000, size=n)
        street = np.array(STREETS)[rng.integers(len(STREETS), size=n)]
        kind = np.array(STREET_KINDS)[rng.integers(len(STREET_KINDS), size=n)]
        customers = [
            (
                i + 1,
                first[i],
                middle[i],
                last[i],
                int(self.customer_city[i]) + 1,
                f"{number[i]} {street[i]} {kind[i]}",
            )
            for i in range(n)
        ]
        return {
            "categories": categories, "countries": countries, "cities": cities,
            "customers": customers, "employees": employees, "products": products,
        }  # fmt: skip

    def sales_on(self, day_index: int) -> pa.Table:
        """The sale lines of one day, as text columns in the dataset's formats."""
        rng = np.random.default_rng([self.seed, 2, day_index])
        n = self.lines_on(day_index)
        active = np.flatnonzero((self.first_day <= day_index) & (self.last_day >= day_index))
        if len(active) == 0:
            active = np.arange(self.n_customers)
        weights = self.activity[active]
        customers = active[rng.choice(len(active), n, p=weights / weights.sum())]
        # Product: a favourite, a popular product of the preferred category, or any popular product.
        how = rng.random(n)
        products = self._draw_in_category(self.preferred[customers], rng)
        favourite = how < P_FAVOURITE
        products[favourite] = self.favourites[
            customers[favourite], rng.integers(0, FAVOURITES, favourite.sum())
        ]
        anything = how >= P_FAVOURITE + P_PREFERRED
        global_cdf = np.cumsum(self.product_weight) / self.product_weight.sum()
        products[anything] = np.minimum(
            np.searchsorted(global_cdf, rng.random(anything.sum())), N_PRODUCTS - 1
        )
        employees = np.where(
            rng.random(n) < 0.6, self.usual_employee[customers],
            rng.choice(N_EMPLOYEES, n, p=self.employee_weight / self.employee_weight.sum()),
        )  # fmt: skip
        # Store hours: mostly 7:00-22:00, busiest in the evening.
        seconds = np.clip(rng.normal(15.5 * 3600, 3.5 * 3600, n), 0, 86399.999)
        moments = (
            np.datetime64(HISTORY_START, "ms") + np.timedelta64(day_index, "D")
            + (seconds * 1000).astype("timedelta64[ms]")
        )  # fmt: skip
        sales_at = pc.strftime(pa.array(moments, pa.timestamp("ms")), format="%Y-%m-%d %H:%M:%S")
        sales_at = pc.if_else(pa.array(rng.random(n) < UNDATED_SHARE), pa.nulls(n, pa.string()), sales_at)
        codes = _ALPHANUM[rng.integers(0, len(_ALPHANUM), (n, 20), dtype=np.uint8)]
        first_id = self.first_sales_id(day_index)
        return pa.table({
            "SalesID": np.arange(first_id, first_id + n),
            "SalesPersonID": employees + 1,
            "CustomerID": customers + 1,
            "ProductID": products + 1,
            "Quantity": rng.integers(1, 26, n),
            "Discount": DISCOUNTS[rng.choice(len(DISCOUNTS), n, p=DISCOUNT_P)],
            "TotalPrice": np.full(n, "0.0"),  # always 0 in the published data
            "SalesDate": sales_at,
            "TransactionNumber": codes.view("S20").ravel().astype(str),
        })  # fmt: skip

    def write_sales(self, path: Path, day_indexes: range | list[int]) -> None:
        with open(path, "wb") as f:
            f.write((",".join(t.SALES.column_names) + "\n").encode())
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            for day_index in day_indexes:
                pacsv.write_csv(self.sales_on(day_index), f, options)


def generate(
    folder: Path, scale: float = 0.05, seed: int = 42, interval: DataInterval | None = None
) -> Delivery:
    """Write the seven files into folder (the `grocery generate` command)."""
    return GeneratorSource(scale, seed).fetch(folder, interval or DataInterval.everything())
