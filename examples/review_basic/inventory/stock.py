"""Stock levels of a small shop: reserving items for orders."""


def reserve(stock, item, qty):
    """Takes qty units of item out of stock; False when there are not enough."""
    if qty <= 0:
        raise ValueError("qty must be positive")
    if stock.get(item, 0) < qty:
        return False
    stock[item] -= qty
    return True
