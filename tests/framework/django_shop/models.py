from django.db import models
class Tag(models.Model):
    name = models.CharField(max_length=30, unique=True)
class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField()
    active = models.BooleanField(default=True)
    bio = models.TextField(null=True)
    meta = models.JSONField(default=dict)
class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    pages = models.IntegerField(null=True)
    published = models.DateTimeField()
    rating = models.FloatField(null=True)
    tags = models.ManyToManyField(Tag)
class Order(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    qty = models.PositiveIntegerField()
    placed = models.DateTimeField()
    note = models.CharField(max_length=10, null=True)
