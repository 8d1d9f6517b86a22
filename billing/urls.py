from django.urls import path

from billing import views

urlpatterns = [
    path("balance/", views.BalanceView.as_view(), name="billing-balance"),
    path("transactions/", views.TransactionListView.as_view(), name="billing-transactions"),
    path("topup/", views.TopUpView.as_view(), name="billing-topup"),
    path("adjustments/", views.AdjustmentView.as_view(), name="billing-adjustments"),
]
