import unittest

from inventory.stock import reserve


class ReserveTest(unittest.TestCase):
    def test_reserve_takes_units(self):
        stock = {"apple": 3}
        self.assertTrue(reserve(stock, "apple", 2))
        self.assertEqual(stock["apple"], 1)

    def test_reserve_refuses_too_many(self):
        self.assertFalse(reserve({"apple": 1}, "apple", 2))


if __name__ == "__main__":
    unittest.main()
