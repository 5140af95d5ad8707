"""A small Django shop on SQLite, seeded, then its usual ORM reads run with
Django's own execute_wrapper logging each statement and its parameters, as
docs/workload.md tells users to capture them (`%s` placeholders).

Usage: capture_django.py APP.db QUERIES.jsonl
"""
import json, os, sys, random, datetime, decimal
import django
from django.conf import settings
settings.configure(
    DEBUG=False, USE_TZ=True, TIME_ZONE="America/Chicago",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_shop"],
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from django_shop.models import Author, Book, Tag, Order
from django.db import connection
from django.db.models import Count, Sum, Avg, Max, Min, Q, F, Value, Exists, OuterRef, Subquery
from django.db.models.functions import TruncMonth, TruncDay, TruncWeek, TruncDate, ExtractYear, ExtractIsoWeekDay, Upper, Length, Coalesce, Concat, Cast
from django.contrib.auth.models import User
random.seed(7)
tags = [Tag.objects.create(name=n) for n in ["fiction", "Science", "history", "kids", "Poetry"]]
authors = [Author.objects.create(name=f"Author {i}", email=f"a{i}@Example.com", active=(i % 3 != 0), bio=None if i % 4 == 0 else f"bio {i}", meta={"country": random.choice(["FR", "US", "DE"]), "rank": i}) for i in range(40)]
base = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
books = []
for i in range(300):
    b = Book.objects.create(title=random.choice(["The ", "A ", "", "the "]) + f"Book {i}", author=random.choice(authors),
        price=decimal.Decimal(random.randint(100, 9999)) / 100, pages=random.choice([None, random.randint(50, 900)]),
        published=base + datetime.timedelta(days=random.randint(0, 700), seconds=random.randint(0, 86400)), rating=random.choice([None, 1.5, 2.25, 3.0, 4.75]))
    b.tags.set(random.sample(tags, random.randint(0, 3)))
    books.append(b)
for i in range(1000):
    Order.objects.create(book=random.choice(books), qty=random.randint(1, 5), placed=base + datetime.timedelta(minutes=random.randint(0, 1_000_000)), note=random.choice([None, "gift", "rush"]))
for i in range(5):
    User.objects.create_user(f"user{i}", f"u{i}@x.org", "pw")

out = open(sys.argv[2], "w")
def logger(execute, sql, params, many, context):
    out.write(json.dumps({"sql": sql, "params": list(params or [])}, default=str) + "\n")
    return execute(sql, params, many, context)

def run():
    list(Book.objects.filter(title__icontains="book 1")[:10])
    list(Book.objects.filter(title__istartswith="the").order_by("pages")[:20])
    list(Book.objects.filter(title__iexact="the book 5"))
    list(Book.objects.filter(title__regex=r"^A B"))
    list(Book.objects.filter(pages__isnull=True).values_list("id", flat=True))
    list(Book.objects.order_by("-rating", "id").values("id", "rating")[:30])
    list(Book.objects.annotate(n=Count("tags")).filter(n__gte=2).order_by("id"))
    list(Author.objects.annotate(books=Count("book"), total=Sum("book__price")).order_by("-books", "id")[:10])
    list(Author.objects.filter(active=True).order_by("name"))
    list(Author.objects.filter(meta__country="FR").order_by("id"))
    list(Author.objects.filter(meta__rank__gte=20).order_by("id"))
    list(Book.objects.annotate(m=TruncMonth("published")).values("m").annotate(c=Count("id")).order_by("m"))
    list(Book.objects.annotate(y=ExtractYear("published")).values("y").annotate(c=Count("id")).order_by("y"))
    list(Book.objects.filter(published__year=2023).order_by("id")[:5])
    list(Book.objects.filter(published__month=3).order_by("id")[:5])
    list(Book.objects.filter(published__date=datetime.date(2023, 5, 5)))
    list(Book.objects.filter(published__gte=base + datetime.timedelta(days=100), published__lt=base + datetime.timedelta(days=130)).order_by("published"))
    list(Order.objects.values("book__author__name").annotate(q=Sum("qty")).order_by("-q", "book__author__name")[:10])
    list(Order.objects.annotate(d=TruncDay("placed")).values("d").annotate(c=Count("id")).order_by("d")[:10])
    Book.objects.aggregate(a=Avg("price"), mx=Max("pages"), mn=Min("rating"))
    list(Book.objects.filter(Q(rating__gt=3) | Q(pages__lt=100)).order_by("id"))
    list(Book.objects.filter(price__gt=F("rating") * 10).order_by("id"))
    list(Author.objects.annotate(l=Length("name"), u=Upper("email"), c=Coalesce("bio", Value("none"), output_field=django.db.models.TextField())).order_by("id")[:10])
    list(Author.objects.annotate(full=Concat("name", Value(" <"), "email", Value(">"), output_field=django.db.models.TextField())).order_by("id")[:10])
    list(Author.objects.filter(Exists(Book.objects.filter(author=OuterRef("pk"), price__gt=90))).order_by("id"))
    list(Book.objects.select_related("author").filter(author__active=False).order_by("id")[:20])
    list(Book.objects.prefetch_related("tags").order_by("id")[:20])
    list(Book.objects.dates("published", "month"))
    list(Book.objects.datetimes("published", "week"))
    list(Order.objects.annotate(w=TruncWeek("placed"), d=TruncDate("placed"), i=ExtractIsoWeekDay("placed")).values("w", "d", "i").order_by("id")[:20])
    list(Book.objects.filter(published__time__gte=datetime.time(12, 0)).order_by("id")[:10])
    list(Book.objects.filter(published__quarter=2, published__iso_year=2023).order_by("id"))
    Order.objects.filter(note__in=["gift", "rush"]).count()
    Book.objects.filter(title__contains="Book 2").exists()
    list(Book.objects.order_by("title")[40:50])
    list(Book.objects.values("author_id").distinct().order_by("author_id"))
    Order.objects.filter(placed__week_day=2).count()
    list(Book.objects.annotate(r=Cast("price", output_field=django.db.models.IntegerField())).values_list("r", flat=True).order_by("id")[:10])
    list(User.objects.filter(username__startswith="user").order_by("id"))
    for a in random.sample(authors, 5):
        list(Book.objects.filter(author_id=a.id).order_by("-published")[:5])
        Author.objects.get(pk=a.pk)
with connection.execute_wrapper(logger):
    run()
out.close()
