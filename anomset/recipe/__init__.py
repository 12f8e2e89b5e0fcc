"""Recipe schema, loading, validation and hashing."""

from anomset.recipe.load import LoadedRecipe, load_recipe, load_recipe_text
from anomset.recipe.schema import ClassPlan, GenerateSpec, MaskSpec, Recipe

__all__ = ["ClassPlan", "GenerateSpec", "LoadedRecipe", "MaskSpec", "Recipe", "load_recipe",
           "load_recipe_text"]
