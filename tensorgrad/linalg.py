"""tensorgrad.linalg: the torch.linalg functions implemented here."""
from .ops.matmul import matmul
from .ops.reduce import vector_norm
# torch.linalg's solvers, factorizations and norms (ops/linalg_*.py)
from .ops.linalg_util import LinAlgError
from .ops.linalg_basic import (inv, inv_ex, solve, solve_ex, solve_triangular, slogdet, matrix_exp,
                               matrix_power)
from .ops.linalg_decomp import det, cholesky, cholesky_ex, qr, eigh, eigvalsh, svd, svdvals
from .ops.linalg_eig import eig, eigvals
from .ops.linalg_lstsq import pinv, lstsq, matrix_rank
from .ops.linalg_lu import (lu_factor, lu_factor_ex, lu, lu_solve, ldl_factor, ldl_factor_ex, ldl_solve)
from .ops.linalg_householder import householder_product
from .ops.linalg_norms import (norm, matrix_norm, cond, multi_dot, cross, vecdot, tensorinv, tensorsolve, vander,
                               diagonal)

__all__ = ["matmul", "vector_norm",
           "LinAlgError", "inv", "inv_ex", "solve", "solve_ex", "solve_triangular", "slogdet", "matrix_exp",
           "matrix_power", "det", "cholesky", "cholesky_ex", "qr", "eigh", "eigvalsh", "eig", "eigvals", "svd", "svdvals", "pinv",
           "lstsq", "matrix_rank", "norm", "matrix_norm", "cond", "multi_dot", "cross", "vecdot", "tensorinv",
           "tensorsolve", "vander", "diagonal", "lu_factor", "lu_factor_ex", "lu", "lu_solve", "ldl_factor",
           "ldl_factor_ex", "ldl_solve", "householder_product"]
